'use strict';
// Basalt MySQL protocol through node mysql2: query() (text protocol, client-side escaping)
// and execute() (COM_STMT_PREPARE/EXECUTE, binary protocol). Expected results are MySQL 8.0's.
//
//   BASALT_MYSQL_HOST (127.0.0.1)  BASALT_MYSQL_PORT (3307)
//   node driver_test.js            run every check, exit 1 if any failed
//   node driver_test.js --list     print the check names, one a line (no server needed)
//   node driver_test.js --json     last line of output: {"name": "ok" | "error text", ...}
//   node driver_test.js NAME...    run only these checks
//
// Every check runs in its own database t_<random>, dropped afterwards.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const HOST = process.env.BASALT_MYSQL_HOST || '127.0.0.1';
const PORT = parseInt(process.env.BASALT_MYSQL_PORT || '3307', 10);

let mysql;
function driver() {
  if (!mysql) mysql = require('mysql2/promise');
  return mysql;
}

function connect(opts = {}) {
  return driver().createConnection({
    host: HOST, port: PORT, user: 'root', password: '', connectTimeout: 10000, ...opts,
  });
}

const checks = [];
function check(name, fn) { checks.push({ name, fn }); }

// expects `promise` to reject with a MySQL error of this errno / code (/ sqlState)
async function expectError(promise, errno, code, sqlState) {
  let err = null;
  try { await promise; } catch (e) { err = e; }
  assert.ok(err, `expected MySQL error ${errno} ${code}, statement succeeded`);
  assert.equal(err.errno, errno, `errno ${err.errno} (${err.code}: ${err.message}), expected ${errno}`);
  assert.equal(err.code, code, `code ${err.code}, expected ${code}`);
  if (sqlState) assert.equal(err.sqlState, sqlState, `sqlState ${err.sqlState}, expected ${sqlState}`);
  return err;
}

const TYPES_DDL = `CREATE TABLE types (
  id INT AUTO_INCREMENT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT, iu INT UNSIGNED,
  bi BIGINT, bu BIGINT UNSIGNED, f FLOAT, d DOUBLE, dc DECIMAL(10,2),
  ch CHAR(5), vc VARCHAR(40), tx TEXT, mt MEDIUMTEXT, bl BLOB, vb VARBINARY(16),
  da DATE, dtm DATETIME, ts TIMESTAMP NULL, tm TIME, yr YEAR, bo BOOLEAN, en ENUM('a','b'),
  KEY idx_vc (vc), UNIQUE KEY u_ch (ch)
) ENGINE=InnoDB`;
const COLS = ['ti', 'tu', 'si', 'mi', 'i', 'iu', 'bi', 'bu', 'f', 'd', 'dc', 'ch', 'vc', 'tx', 'mt',
  'bl', 'vb', 'da', 'dtm', 'ts', 'tm', 'yr', 'bo', 'en'];
const INSERT = `INSERT INTO types (${COLS.join(', ')}) VALUES (${COLS.map(() => '?').join(', ')})`;

// row 1: written with query() (client-side escaping)
const ROW1_IN = [-128, 255, -32768, -8388608, -2147483648, 4294967295,
  '-9223372036854775808', '18446744073709551615', 1.5, 3.141592653589793, '12345678.90',
  'ab', 'héllo wörld ✓ 😀', 'multi\nline\ttext', 'y'.repeat(70000),
  Buffer.from([0x00, 0xff, 0x01]), Buffer.from([0x00, 0xff]),
  '2024-02-29', '2024-02-29 13:45:30', '2024-01-02 03:04:05', '12:34:56', 2024, true, 'b'];
// row 2: written with execute() (binary parameters)
const ROW2_IN = [127, 0, 32767, 8388607, 2147483647, 0,
  '9223372036854775807', '9223372036854775808', -0.25, -2.5e-300, '-0.05',
  'abcde', "quote ' and \\ backslash", 'x'.repeat(5000), '',
  Buffer.from([0x00, 0xff, 0x27, 0x5c, 0x00]), Buffer.from([0xc3, 0x28, 0xfe]),
  new Date(1999, 11, 31), new Date(1999, 11, 31, 23, 59, 59), '2030-06-15 12:00:00',
  '23:59:59', 1901, false, 'a'];

// expected values with supportBigNumbers + bigNumberStrings (BIGINT as exact strings)
const ROW1_OUT = {
  ti: -128, tu: 255, si: -32768, mi: -8388608, i: -2147483648, iu: 4294967295,
  bi: '-9223372036854775808', bu: '18446744073709551615', f: 1.5, d: 3.141592653589793,
  dc: '12345678.90', ch: 'ab', vc: 'héllo wörld ✓ 😀', tx: 'multi\nline\ttext', mt: 'y'.repeat(70000),
  bl: Buffer.from([0x00, 0xff, 0x01]), vb: Buffer.from([0x00, 0xff]),
  da: new Date(2024, 1, 29), dtm: new Date(2024, 1, 29, 13, 45, 30), ts: new Date(2024, 0, 2, 3, 4, 5),
  tm: '12:34:56', yr: 2024, bo: 1, en: 'b',
};
const ROW2_OUT = {
  ti: 127, tu: 0, si: 32767, mi: 8388607, i: 2147483647, iu: 0,
  bi: '9223372036854775807', bu: '9223372036854775808', f: -0.25, d: -2.5e-300,
  dc: '-0.05', ch: 'abcde', vc: "quote ' and \\ backslash", tx: 'x'.repeat(5000), mt: '',
  bl: Buffer.from([0x00, 0xff, 0x27, 0x5c, 0x00]), vb: Buffer.from([0xc3, 0x28, 0xfe]),
  da: new Date(1999, 11, 31), dtm: new Date(1999, 11, 31, 23, 59, 59), ts: new Date(2030, 5, 15, 12, 0, 0),
  tm: '23:59:59', yr: 1901, bo: 0, en: 'a',
};

function checkRow(label, got, want) {
  const bad = [];
  for (const [k, w] of Object.entries(want)) {
    const g = got[k];
    let ok;
    if (Buffer.isBuffer(w)) ok = Buffer.isBuffer(g) && g.equals(w);
    else if (w instanceof Date) ok = g instanceof Date && g.getTime() === w.getTime();
    else ok = g === w;
    if (!ok) {
      const show = (v) => (Buffer.isBuffer(v) ? `Buffer<${v.toString('hex')}>` :
        v instanceof Date ? `Date(${v.toISOString()})` :
          typeof v === 'string' && v.length > 60 ? `${typeof v}(len ${v.length})` : `${typeof v} ${JSON.stringify(v)}`);
      bad.push(`${k}: got ${show(g)}, want ${show(w)}`);
    }
  }
  assert.deepEqual(bad, [], `${label}: ${bad.join('; ')}`);
}

async function typesTable(c) {
  await c.query(TYPES_DDL);
  const [r1] = await c.query(INSERT, ROW1_IN);
  assert.equal(r1.insertId, 1);
  assert.equal(r1.affectedRows, 1);
  const [r2] = await c.execute(INSERT, ROW2_IN);
  assert.equal(r2.insertId, 2);
  assert.equal(r2.affectedRows, 1);
  const [r3] = await c.query('INSERT INTO types (ti) VALUES (NULL)');
  assert.equal(r3.insertId, 3);
}

const BIG = { supportBigNumbers: true, bigNumberStrings: true };

// ------------------------------------------------------------------ checks
check('query_types_text_protocol', async ({ db }) => {
  const c = await connect({ database: db, ...BIG });
  try {
    await typesTable(c);
    const [rows] = await c.query('SELECT * FROM types ORDER BY id');
    assert.equal(rows.length, 3);
    checkRow('row 1 (query)', rows[0], ROW1_OUT);
    checkRow('row 2 (query)', rows[1], ROW2_OUT);
    for (const k of COLS) assert.equal(rows[2][k], null, `NULL ${k} came back as ${rows[2][k]}`);
  } finally { await c.end(); }
});

check('execute_types_binary_protocol', async ({ db }) => {
  const c = await connect({ database: db, ...BIG });
  try {
    await typesTable(c);
    const [rows] = await c.execute('SELECT * FROM types WHERE id >= ? ORDER BY id', [1]);
    assert.equal(rows.length, 3);
    checkRow('row 1 (execute)', rows[0], ROW1_OUT);
    checkRow('row 2 (execute)', rows[1], ROW2_OUT);
    for (const k of COLS) assert.equal(rows[2][k], null, `NULL ${k} came back as ${rows[2][k]}`);
  } finally { await c.end(); }
});

check('time_beyond_24_hours', async ({ db }) => {
  // MySQL TIME is an interval: -838:59:59 .. 838:59:59
  const c = await connect({ database: db });
  try {
    await c.query('CREATE TABLE tm (id INT PRIMARY KEY, t TIME)');
    await c.query("INSERT INTO tm VALUES (1, '100:01:02'), (2, '-01:02:03')");
    await c.execute('INSERT INTO tm VALUES (?, ?)', [3, '838:59:59']);
    const [q] = await c.query('SELECT t FROM tm ORDER BY id');
    assert.deepEqual(q.map((r) => r.t), ['100:01:02', '-01:02:03', '838:59:59']);
    const [e] = await c.execute('SELECT t FROM tm WHERE id > ? ORDER BY id', [0]);
    assert.deepEqual(e.map((r) => r.t), ['100:01:02', '-01:02:03', '838:59:59']);
  } finally { await c.end(); }
});

check('bigint_default_config', async ({ db }) => {
  // default config: BIGINT is a JS number when it fits, DECIMAL a string
  const c = await connect({ database: db });
  try {
    await c.query('CREATE TABLE b (id BIGINT PRIMARY KEY, u BIGINT UNSIGNED, dc DECIMAL(10,2))');
    await c.query('INSERT INTO b VALUES (?, ?, ?)', [42, 7, '1.50']);
    const [q] = await c.query('SELECT id, u, dc, id + 1 AS nxt FROM b');
    assert.deepEqual(q, [{ id: 42, u: 7, dc: '1.50', nxt: 43 }]);
    const [e] = await c.execute('SELECT id, u, dc FROM b WHERE id = ?', [42]);
    assert.deepEqual(e, [{ id: 42, u: 7, dc: '1.50' }]);
  } finally { await c.end(); }
});

check('column_types_metadata', async ({ db }) => {
  const c = await connect({ database: db });
  try {
    await c.query(TYPES_DDL);
    const want = { ti: 1, tu: 1, si: 2, mi: 9, i: 3, iu: 3, bi: 8, bu: 8, f: 4, d: 5, dc: 246,
      ch: 254, vc: 253, tx: 252, mt: 252, bl: 252, vb: 253, da: 10, dtm: 12, ts: 7, tm: 11, yr: 13,
      bo: 1, en: 254 };
    for (const [how, run] of [['query', () => c.query('SELECT * FROM types')],
      ['execute', () => c.execute('SELECT * FROM types')]]) {
      const [, fields] = await run();
      const bad = fields.filter((f) => f.name in want && f.columnType !== want[f.name])
        .map((f) => `${f.name}: ${f.columnType} (MySQL ${want[f.name]})`);
      assert.deepEqual(bad, [], `${how}: ${bad.join(', ')}`);
      const flagged = new Set(fields.filter((f) => f.flags & 32).map((f) => f.name));
      const wrong = ['ti', 'tu', 'si', 'mi', 'i', 'iu', 'bi', 'bu']
        .filter((n) => flagged.has(n) !== n.endsWith('u'));
      assert.deepEqual(wrong, [], `${how}: UNSIGNED flag wrong on ${wrong}`);
    }
  } finally { await c.end(); }
});

check('crud_insert_id_affected_rows', async ({ db }) => {
  const c = await connect({ database: db });
  try {
    await c.query(`CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20),
      qty INT NOT NULL DEFAULT 0, KEY idx_name (name)) ENGINE=InnoDB`);
    const [a] = await c.query("INSERT INTO people (name) VALUES ('a'), ('b'), ('c')");
    assert.equal(a.affectedRows, 3);
    assert.equal(a.insertId, 1); // first id of a multi-row insert
    const [b] = await c.execute('INSERT INTO people (name, qty) VALUES (?, ?)', ['d', 4]);
    assert.equal(b.insertId, 4);
    const [[lid]] = await c.query('SELECT LAST_INSERT_ID() AS v');
    assert.equal(lid.v, 4);
    // mysql2 sets CLIENT_FOUND_ROWS: affectedRows = matched rows; changedRows from the OK info
    const [u] = await c.query('UPDATE people SET qty = 4 WHERE id >= 2');
    assert.equal(u.affectedRows, 3);
    assert.equal(u.changedRows, 2, `changedRows ${u.changedRows}, info ${JSON.stringify(u.info)}`);
    const [u2] = await c.execute('UPDATE people SET qty = ? WHERE name = ?', [9, 'a']);
    assert.equal(u2.affectedRows, 1);
    const [d] = await c.query('DELETE FROM people WHERE qty = 4');
    assert.equal(d.affectedRows, 3);
    const [rows] = await c.query('SELECT `id`, `name`, qty FROM `people` ORDER BY id LIMIT 0, 10');
    assert.deepEqual(rows, [{ id: 1, name: 'a', qty: 9 }]);
  } finally { await c.end(); }
});

check('execute_parameters_and_statement_reuse', async ({ db }) => {
  const c = await connect({ database: db });
  try {
    const [[r]] = await c.execute('SELECT ? AS a, ? AS b, ? AS c', [1, 'x', null]);
    assert.deepEqual(r, { a: 1, b: 'x', c: null });
    await c.query('CREATE TABLE kv (k VARCHAR(10) PRIMARY KEY, v INT, b VARBINARY(8))');
    for (let i = 0; i < 5; i++) {
      await c.execute('INSERT INTO kv VALUES (?, ?, ?)', [`k${i}`, i * 10, Buffer.from([i, 0xff])]);
    }
    const [rows] = await c.execute('SELECT k, v, b FROM kv WHERE v >= ? ORDER BY k LIMIT ?, ?', [10, '1', '2']);
    assert.deepEqual(rows.map((x) => [x.k, x.v, x.b.toString('hex')]), [['k2', 20, '02ff'], ['k3', 30, '03ff']]);
    const [[m]] = await c.execute('SELECT k FROM kv WHERE b = ?', [Buffer.from([3, 0xff])]);
    assert.equal(m.k, 'k3');
    const [inj] = await c.query('SELECT k FROM kv WHERE k = ?', ["k1' OR '1'='1"]);
    assert.equal(inj.length, 0); // an escaped quote is data, not SQL
  } finally { await c.end(); }
});

check('errors_errno_code', async ({ db }) => {
  const c = await connect({ database: db });
  try {
    await c.query('CREATE TABLE e (id INT PRIMARY KEY, u VARCHAR(5), t TINYINT, en ENUM(\'a\',\'b\'), UNIQUE KEY uu (u))');
    await c.query("INSERT INTO e VALUES (1, 'x', 1, 'a')");
    let err = await expectError(c.query("INSERT INTO e VALUES (1, 'y', 1, 'a')"), 1062, 'ER_DUP_ENTRY', '23000');
    assert.match(err.message, /^Duplicate entry '1' for key /);
    await expectError(c.execute('INSERT INTO e VALUES (?, ?, ?, ?)', [2, 'x', 1, 'a']), 1062, 'ER_DUP_ENTRY', '23000');
    err = await expectError(c.query('SELECT * FROM nosuch'), 1146, 'ER_NO_SUCH_TABLE', '42S02');
    assert.equal(err.message, `Table '${db}.nosuch' doesn't exist`);
    await expectError(c.execute('SELECT * FROM nosuch WHERE id = ?', [1]), 1146, 'ER_NO_SUCH_TABLE', '42S02');
    err = await expectError(c.query('SELECT nosuch FROM e'), 1054, 'ER_BAD_FIELD_ERROR', '42S22');
    assert.equal(err.message, "Unknown column 'nosuch' in 'field list'");
    await expectError(c.execute('SELECT nosuch FROM e WHERE id = ?', [1]), 1054, 'ER_BAD_FIELD_ERROR', '42S22');
    err = await expectError(c.query('SELEC 1'), 1064, 'ER_PARSE_ERROR', '42000');
    assert.match(err.message, /near '/);
    await expectError(c.execute('SELEC ?', [1]), 1064, 'ER_PARSE_ERROR', '42000');
    await expectError(c.query('INSERT INTO e (id, t) VALUES (5, 128)'), 1264, 'ER_WARN_DATA_OUT_OF_RANGE', '22003');
    await expectError(c.execute('INSERT INTO e (id, t) VALUES (?, ?)', [6, -129]), 1264, 'ER_WARN_DATA_OUT_OF_RANGE', '22003');
    await expectError(c.query("INSERT INTO e (id, en) VALUES (7, 'c')"), 1265, 'WARN_DATA_TRUNCATED', '01000');
    err = await expectError(c.query('USE nosuch_db_xyz'), 1049, 'ER_BAD_DB_ERROR', '42000');
    assert.equal(err.message, "Unknown database 'nosuch_db_xyz'");
    const [[one]] = await c.query('SELECT 1 AS one'); // still usable
    assert.equal(one.one, 1);
  } finally { await c.end(); }
  const nodb = await connect();
  try {
    const err = await expectError(nodb.query('SELECT * FROM e'), 1046, 'ER_NO_DB_ERROR', '3D000');
    assert.equal(err.message, 'No database selected');
  } finally { await nodb.end(); }
  await expectError(connect({ database: 'nosuch_db_xyz' }), 1049, 'ER_BAD_DB_ERROR');
});

check('transactions', async ({ db }) => {
  const w = await connect({ database: db });
  const r = await connect({ database: db });
  try {
    await w.query('CREATE TABLE tx (id INT PRIMARY KEY)');
    const count = async () => (await r.query('SELECT COUNT(*) AS n FROM tx'))[0][0].n;
    await w.beginTransaction();
    await w.query('INSERT INTO tx VALUES (1)');
    await w.execute('INSERT INTO tx VALUES (?)', [2]);
    assert.equal(await count(), 0);
    await w.commit();
    assert.equal(await count(), 2);
    await w.beginTransaction();
    await w.execute('DELETE FROM tx WHERE id = ?', [1]);
    assert.equal((await w.query('SELECT COUNT(*) AS n FROM tx'))[0][0].n, 1);
    await w.rollback();
    assert.equal(await count(), 2);
    await w.query('SET autocommit = 0');
    const [[ac]] = await w.query('SELECT @@autocommit AS ac');
    assert.equal(ac.ac, 0);
    await w.query('INSERT INTO tx VALUES (3)');
    assert.equal(await count(), 2);
    await w.query('COMMIT');
    assert.equal(await count(), 3);
  } finally { await w.end(); await r.end(); }
});

check('mysql_dialect_dml', async ({ db }) => {
  const c = await connect({ database: db });
  try {
    await c.query('CREATE TABLE od (id INT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(10), c INT, UNIQUE KEY uk (k))');
    const sql = 'INSERT INTO od (k, c) VALUES (?, ?) ON DUPLICATE KEY UPDATE c = VALUES(c)';
    assert.equal((await c.query(sql, ['x', 1]))[0].affectedRows, 1, 'ODKU insert');
    assert.equal((await c.query(sql, ['x', 2]))[0].affectedRows, 2, 'ODKU update');
    assert.equal((await c.execute(sql, ['x', 3]))[0].affectedRows, 2, 'ODKU update (execute)');
    // unchanged row: 1 with CLIENT_FOUND_ROWS (which mysql2 sets), 0 without
    assert.equal((await c.query(sql, ['x', 3]))[0].affectedRows, 1, 'ODKU unchanged row with CLIENT_FOUND_ROWS');
    const [ig] = await c.query("INSERT IGNORE INTO od (k, c) VALUES ('x', 9), ('y', 9)");
    assert.equal(ig.affectedRows, 1, 'INSERT IGNORE affectedRows');
    assert.equal(ig.warningStatus, 1, 'INSERT IGNORE warning count');
    const [warn] = await c.query('SHOW WARNINGS');
    assert.equal(warn.length, 1);
    assert.equal(warn[0].Code, 1062);
    const [rp] = await c.query("REPLACE INTO od (id, k, c) VALUES (1, 'x', 100)");
    assert.equal(rp.affectedRows, 2, 'REPLACE affectedRows');
    const [rows] = await c.query('SELECT k, c FROM od ORDER BY k');
    assert.deepEqual(rows, [{ k: 'x', c: 100 }, { k: 'y', c: 9 }]);
  } finally { await c.end(); }
});

check('variables_and_show', async ({ db }) => {
  const c = await connect({ database: db });
  try {
    await c.query('SET @x = 5');
    const [[x]] = await c.query('SELECT @x + 1 AS v');
    assert.equal(x.v, 6);
    const [[s]] = await c.query('SELECT @@autocommit AS ac, @@version AS ver, DATABASE() AS db');
    assert.equal(s.ac, 1);
    assert.match(s.ver, /^8\./);
    assert.equal(s.db, db);
    await c.query('CREATE TABLE t1 (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10), KEY idx (name))');
    const [tables, tf] = await c.query('SHOW TABLES');
    assert.equal(tf[0].name, `Tables_in_${db}`);
    assert.deepEqual(tables.map((t) => t[`Tables_in_${db}`]), ['t1']);
    const [cols] = await c.query('DESCRIBE t1');
    assert.deepEqual(cols.map((r) => [r.Field, r.Type, r.Null, r.Key, r.Extra]),
      [['id', 'int', 'NO', 'PRI', 'auto_increment'], ['name', 'varchar(10)', 'YES', 'MUL', '']]);
    const [vars] = await c.query("SHOW VARIABLES LIKE 'autocommit'");
    assert.deepEqual(vars, [{ Variable_name: 'autocommit', Value: 'ON' }]);
    const [dbs] = await c.query('SHOW DATABASES');
    assert.ok(dbs.some((r) => r.Database === db), 'own database not in SHOW DATABASES');
  } finally { await c.end(); }
});

// ------------------------------------------------------------------ runner
async function runCheck(ch) {
  const db = `t_${crypto.randomBytes(6).toString('hex')}`;
  let admin = null;
  try {
    admin = await connect();
    await admin.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4`);
    await ch.fn({ db });
    return 'ok';
  } catch (e) {
    if (!(e instanceof Error)) return String(e);
    const at = (String(e.stack).split('\n').find((l) => l.includes('driver_test.js')) || '').trim();
    return `${e.message.replace(/\s*\n\s*/g, ' ')} [${at}]`.slice(0, 1500);
  } finally {
    if (admin) {
      try { await admin.query(`DROP DATABASE IF EXISTS ${db}`); } catch (e) { /* ignore */ }
      try { await admin.end(); } catch (e) { /* ignore */ }
    }
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    for (const ch of checks) console.log(ch.name);
    return 0;
  }
  const json = args.includes('--json');
  const only = args.filter((a) => !a.startsWith('--'));
  const unknown = only.filter((n) => !checks.some((ch) => ch.name === n));
  if (unknown.length) { console.error(`unknown checks: ${unknown}`); return 2; }
  const selected = only.length ? checks.filter((ch) => only.includes(ch.name)) : checks;
  const results = {};
  let failed = 0;
  for (const ch of selected) {
    const res = await runCheck(ch);
    results[ch.name] = res;
    if (res === 'ok') console.log(`ok   ${ch.name}`);
    else { failed++; console.log(`FAIL ${ch.name}: ${res}`); }
  }
  console.log(`mysql2 checks: ${selected.length - failed} ok, ${failed} failing`);
  if (json) console.log(JSON.stringify(results));
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(3); });
