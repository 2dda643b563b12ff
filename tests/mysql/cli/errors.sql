-- Errors: the client prints "ERROR code (state) at line N: message" on stderr and,
-- with --force, goes on with the next statement.
CREATE TABLE e (id INT NOT NULL PRIMARY KEY, name VARCHAR(5) NOT NULL, UNIQUE KEY uk_name (name));
SELECT * FROM e_missing;
INSERT INTO e VALUES (1, 'a');
INSERT INTO e VALUES (1, 'b');
INSERT INTO e VALUES (2, 'a');
INSERT INTO e VALUES (3, NULL);
SELECT nope FROM e;
SELECT * FROM e WHERE;
SELEKT 1;
CREATE TABLE e (id INT);
DROP TABLE e_missing;
USE db_that_does_not_exist;
SELECT
  id,
  name
FROM e_missing_multiline;
SELECT id, name FROM e;
