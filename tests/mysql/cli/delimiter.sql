-- DELIMITER changes what the client splits on: with //, a body of several statements
-- reaches the server as one COM_QUERY (a multi-statement) and every result is printed.
CREATE TABLE d (id INT PRIMARY KEY, v VARCHAR(10));
DELIMITER //
SELECT 1; SELECT 2//
INSERT INTO d VALUES (1, 'one'); INSERT INTO d VALUES (2, 'two');
SELECT id, v FROM d ORDER BY id;
SELECT COUNT(*) AS n FROM d//
SELECT 'semi;colon' AS s; SELECT "dq;uote" AS t //
DELIMITER ;
SELECT 3; SELECT 4;
DELIMITER $$
UPDATE d SET v = 'uno' WHERE id = 1; SELECT v FROM d WHERE id = 1$$
-- a failing statement in the middle of a multi-statement: the ones after it do not run
INSERT INTO d VALUES (3, 'three'); SELECT * FROM no_such_table; INSERT INTO d VALUES (4, 'four')$$
DELIMITER ;
SELECT id, v FROM d ORDER BY id;
