-- args: -t -vvv
-- databases: cligold_verbose_other
-- Run with -vvv: the client echoes each statement and prints the row counts and the
-- OK packets' info (affected rows, "Records: …", "Rows matched: …", warnings).
CREATE TABLE v (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10) NOT NULL, n INT) ENGINE=InnoDB;
INSERT INTO v (name, n) VALUES ('a', 1);
INSERT INTO v (name, n) VALUES ('b', 2), ('c', NULL), ('d', 4);
SELECT * FROM v ORDER BY id;
SELECT * FROM v WHERE id > 100;
UPDATE v SET n = 10 WHERE n IS NULL;
UPDATE v SET n = n WHERE id = 1;
UPDATE v SET n = n + 1;
DELETE FROM v WHERE id = 4;
INSERT INTO v (name, n) SELECT name, n FROM v WHERE id < 3;
SELECT id, name, n FROM v ORDER BY id;
SELECT * FROM v_missing;
CREATE DATABASE cligold_verbose_other;
DROP DATABASE cligold_verbose_other;
DROP TABLE v;
