-- One database per service; each service creates its own tables by running its migrations at
-- start-up, so nothing else belongs here.
--
-- The postgres image runs this only when the data volume is empty. To add a database to an
-- existing volume: docker compose exec postgres createdb -U postgres <name>
CREATE DATABASE intake;
CREATE DATABASE matching;
CREATE DATABASE events;
CREATE DATABASE reporting;
CREATE DATABASE web;
