-- The C++ error boundary: an exception thrown in the core comes back as an SQL error with the
-- mapped SQLSTATE, and the same session keeps working afterwards.
SET client_min_messages = warning;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS recsys;
\set VERBOSITY default

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- recsys::Error(invalid_parameter) -> 22023, with detail and hint.
SELECT recsys._boundary_probe('invalid_parameter');
SELECT pg_temp.outcome($$SELECT recsys._boundary_probe('invalid_parameter')$$);
-- std::bad_alloc -> 53200.
SELECT pg_temp.outcome($$SELECT recsys._boundary_probe('bad_alloc')$$);
-- Any other std::exception -> XX000.
SELECT pg_temp.outcome($$SELECT recsys._boundary_probe('runtime_error')$$);
-- A failed Eigen assertion throws instead of aborting the backend -> XX000.
SELECT pg_temp.outcome($$SELECT recsys._boundary_probe('eigen_assert')$$);
-- The backend is still the same one and still works.
SELECT recsys._boundary_probe('none');
SELECT pg_backend_pid() = pg_backend_pid() AS same_session, 1 + 1 AS still_working;

-- A real core path: the synthetic generator's range checks raise 22023 naming the option.
SET recsys.org_id = '10000000-0000-0000-0000-000000000002';
SELECT pg_temp.outcome($$SELECT recsys.recsys_seed_synthetic('boundary', '{"items": 0}')$$);
SELECT pg_temp.outcome($$SELECT recsys.recsys_seed_synthetic('boundary', '{"available_share": 1.5}')$$);
SELECT pg_temp.outcome($$SELECT recsys.recsys_seed_synthetic('boundary', '{"items": 10, "categories": 20}')$$);
SELECT pg_temp.outcome($$SELECT recsys.recsys_seed_synthetic('boundary', '{"colour": 1}')$$);
SELECT pg_temp.outcome($$SELECT recsys.recsys_seed_synthetic('boundary', '{"items": 2.5}')$$);
-- ... and after the errors the same session seeds fine.
SELECT recsys.recsys_seed_synthetic('boundary', '{"items": 50, "users": 10, "events": 200, "dim": 8, "categories": 5, "end": "2026-01-01T00:00:00Z"}') - 'seconds' AS seeded;
