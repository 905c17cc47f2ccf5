-- recsys 0.1.0 -> 0.2.0. Built by scripts/upgrade_script.py: the statements below, with every
-- function, view, trigger, grant and comment of the 0.2.0 install script replayed at "@replay".
\echo Use "ALTER EXTENSION recsys UPDATE TO '0.2.0'" to load this file. \quit

-- @replay
