"""COPY … FROM 'file': the server reads a file it can see, through the same parser as COPY
FROM STDIN, inside the statement's transaction (PostgreSQL's superuser form, used by
PostgreSQL's own regression setup). Needs a server on this machine (it reads our temp file)."""
import os
import tempfile

import psycopg
import pytest


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix="basalt-copyfile-")
    os.chmod(d, 0o755)
    yield d
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    os.rmdir(d)


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def test_copy_from_text_and_csv_files(connect, table_name, data_dir):
    t = table_name("copyfile")
    c = connect()
    c.execute(f"CREATE TABLE {t} (a INT, b TEXT)")
    txt = write(data_dir, "rows.txt", "1\tabc\n2\t\\N\n")
    csv = write(data_dir, "rows.csv", 'a,b\n3,"x,y"\n')
    cur = c.execute(f"COPY {t} FROM '{txt}'")
    assert cur.statusmessage == "COPY 2"
    c.execute(f"COPY {t} FROM '{csv}' WITH (FORMAT csv, HEADER true)")
    assert c.execute(f"SELECT a, b FROM {t} ORDER BY a").fetchall() == [(1, "abc"), (2, None), (3, "x,y")]


def test_copy_from_file_errors(connect, table_name, data_dir):
    t = table_name("copyfile")
    c = connect()
    c.execute(f"CREATE TABLE {t} (a INT, b TEXT)")
    with pytest.raises(psycopg.Error) as e:
        c.execute(f"COPY {t} FROM '{data_dir}/missing.txt'")
    assert e.value.sqlstate == "58P01"
    with pytest.raises(psycopg.Error) as e:
        c.execute(f"COPY {t} FROM 'relative.txt'")
    assert e.value.sqlstate == "0A000"
    # A bad line undoes the whole COPY, and fails the transaction block.
    bad = write(data_dir, "bad.txt", "1\tok\nnot-a-number\tx\n")
    tx = connect(autocommit=False)
    with pytest.raises(psycopg.Error) as e:
        tx.execute(f"COPY {t} FROM '{bad}'")
    assert e.value.sqlstate == "22P02"
    with pytest.raises(psycopg.Error) as e:
        tx.execute("SELECT 1")
    assert e.value.sqlstate == "25P02"
    tx.rollback()
    assert c.execute(f"SELECT count(*) FROM {t}").fetchone() == (0,)
