-- databases: cligold_warnings_other
-- Notes and warnings, shown by SHOW WARNINGS after the statement that raised them.
CREATE DATABASE cligold_warnings_other;
CREATE DATABASE IF NOT EXISTS cligold_warnings_other;
SHOW WARNINGS;
DROP DATABASE cligold_warnings_other;
DROP TABLE IF EXISTS w_not_there;
SHOW WARNINGS;
CREATE TABLE w (id INT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS w (id INT PRIMARY KEY);
SHOW WARNINGS;
SELECT 1/0 AS q;
SHOW WARNINGS;
SELECT COUNT(*) AS rows_in_w FROM w;
SHOW WARNINGS;
