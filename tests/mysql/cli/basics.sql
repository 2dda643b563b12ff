-- Tables, rows, NULLs, ORDER BY, GROUP BY, LIMIT, SHOW TABLES, DESCRIBE, SHOW CREATE TABLE.
CREATE TABLE items (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(20) NOT NULL,
  category VARCHAR(10) DEFAULT NULL,
  qty INT NOT NULL DEFAULT 0,
  price DECIMAL(8,2) DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO items (name, category, qty, price) VALUES
  ('apple', 'fruit', 10, 0.50),
  ('banana', 'fruit', 0, 0.25),
  ('carrot', 'veg', 7, NULL),
  ('dill', NULL, 3, 1.99),
  ('eggplant', 'veg', 2, 2.10),
  ('fig', 'fruit', 5, 3.00);
SELECT * FROM items;
SELECT id, name, category, price FROM items WHERE price IS NULL OR category IS NULL ORDER BY id;
SELECT name, qty FROM items ORDER BY qty DESC, name;
SELECT category, COUNT(*) AS n, SUM(qty) AS total_qty FROM items GROUP BY category ORDER BY category;
SELECT id, name FROM items ORDER BY id LIMIT 2, 3;
SELECT id, name FROM items ORDER BY id LIMIT 4 OFFSET 5;
SELECT NULL, NULL IS NULL, COALESCE(NULL, 'fallback') AS c;
SELECT LAST_INSERT_ID();
SHOW TABLES;
DESCRIBE items;
SHOW CREATE TABLE items;
