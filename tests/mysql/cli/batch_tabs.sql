-- args: --batch
-- --batch without --table: tab-separated values, NULL as NULL, and tab / newline /
-- backslash / NUL inside values escaped as \t \n \\ \0; \G prints rows vertically.
CREATE TABLE bt (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, txt VARCHAR(40), note TEXT) DEFAULT CHARSET=utf8mb4;
INSERT INTO bt (txt, note) VALUES ('plain', NULL), ('tab\there', 'line1\nline2'), ('back\\slash', ''), (NULL, 'it''s');
SELECT * FROM bt ORDER BY id;
SELECT id, txt IS NULL AS txt_null, LENGTH(note) AS len FROM bt ORDER BY id;
SELECT 1, NULL, 'abc', 2.5, -3, 'x' AS `Quoted Alias`;
SELECT id, txt FROM bt WHERE id = 2\G
SHOW CREATE TABLE bt;
SHOW TABLES LIKE 'b%';
SELECT 'héllo wörld' AS utf8, CHAR_LENGTH('héllo wörld') AS chars, LENGTH('héllo wörld') AS bytes;
