-- The service's own role: it owns its database and the tables it migrates,
-- and nothing else on the server.
CREATE ROLE orders LOGIN PASSWORD 'orders';
CREATE DATABASE orders OWNER orders;
REVOKE ALL ON DATABASE orders FROM PUBLIC;
