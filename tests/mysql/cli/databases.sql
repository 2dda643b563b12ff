-- databases: cligold_databases_other
-- CREATE DATABASE / USE / DATABASE() / SHOW DATABASES / qualified names / DROP DATABASE.
SELECT DATABASE();
CREATE DATABASE cligold_databases_other;
CREATE DATABASE IF NOT EXISTS cligold_databases_other;
CREATE DATABASE cligold_databases_other;
SHOW DATABASES LIKE 'cligold_databases_oth%';
USE cligold_databases_other;
SELECT DATABASE();
CREATE TABLE t (k VARCHAR(5) PRIMARY KEY, v INT);
INSERT INTO t VALUES ('x', 1), ('y', 2);
SHOW TABLES;
USE cligold_databases;
SELECT DATABASE();
SHOW TABLES;
SELECT k, v FROM cligold_databases_other.t ORDER BY k;
SHOW TABLES FROM cligold_databases_other;
DROP DATABASE cligold_databases_other;
DROP DATABASE IF EXISTS cligold_databases_other;
SHOW DATABASES LIKE 'cligold_databases_oth%';
SELECT * FROM cligold_databases_other.t;
