-- Several statements on one line: the client splits them at ';' and sends each one.
CREATE TABLE m (id INT AUTO_INCREMENT PRIMARY KEY, w VARCHAR(10)); INSERT INTO m (w) VALUES ('a'), ('b'); SELECT * FROM m;
SELECT 1 AS one; SELECT 'two' AS two; SELECT 3 AS three, 4 AS four;
INSERT INTO m (w) VALUES ('c'); SELECT LAST_INSERT_ID() AS last_id; SELECT COUNT(*) AS n FROM m;
SELECT 'a;b' AS semi, "c;d" AS dq; SELECT 5 /* ; in a comment */ AS five;
UPDATE m SET w = 'B' WHERE id = 2; DELETE FROM m WHERE id = 1; SELECT id, w FROM m ORDER BY id;
SELECT * FROM m_missing; SELECT 'next on the same line' AS after_error;
