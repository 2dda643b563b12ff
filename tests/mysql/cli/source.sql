-- SOURCE runs another script file through the same connection.
CREATE TABLE s (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL);
INSERT INTO s (id, label) VALUES (1, 'main');
SOURCE source_part.inc
SELECT COUNT(*) AS rows_after_source FROM s;
source source_part.inc;
SELECT id, label FROM s ORDER BY id;
\. source_part.inc
SELECT 'done' AS status;
