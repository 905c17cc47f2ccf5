-- Every C entry point checks the SQL declaration it is called through: a library newer or older
-- than the installed SQL (between installing a package and ALTER EXTENSION UPDATE) raises 55000
-- instead of reading arguments or filling result columns that are not there (a crash).
BEGIN;
SET client_min_messages = warning;
SELECT plan(7);

-- Each entry point that reads arguments, declared again without any: the call must raise 55000
-- naming the library's entry and its argument count. Collected as "entry: what happened" for
-- the entries that did not.
CREATE FUNCTION pg_temp.undeclared_arguments(OUT probed int, OUT wrong text[])
LANGUAGE plpgsql AS $$
DECLARE
    f record;
    state text;
    detail text;
BEGIN
    probed := 0;
    wrong := '{}';
    FOR f IN SELECT p.prosrc, p.pronargs FROM pg_proc p
              WHERE p.probin = '$libdir/recsys' AND p.pronargs > 0 AND p.prorettype <> 'trigger'::regtype
              ORDER BY 1 LOOP
        EXECUTE format($f$CREATE FUNCTION pg_temp.%I() RETURNS SETOF int AS '$libdir/recsys', %L LANGUAGE C$f$,
                       'bare_' || f.prosrc, f.prosrc);
        BEGIN
            EXECUTE format('SELECT count(*) FROM pg_temp.%I()', 'bare_' || f.prosrc);
            wrong := wrong || (f.prosrc || ': no error');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
            IF state <> '55000' OR detail <> format('The library''s %s has %s arguments; the SQL declaration has 0.',
                                                    f.prosrc, f.pronargs) THEN
                wrong := wrong || (f.prosrc || ': ' || state || ' ' || coalesce(detail, ''));
            END IF;
        END;
        probed := probed + 1;
    END LOOP;
END
$$;
CREATE TEMP TABLE probe AS SELECT * FROM pg_temp.undeclared_arguments();
SELECT is((SELECT wrong FROM probe), '{}', 'every entry point that reads arguments raises 55000 when declared without them');
SELECT cmp_ok((SELECT probed FROM probe), '>=', 20, 'the probe reached the entry points');

-- Result rows of another shape: a set-returning entry (the serving function) and two returning
-- one row.
DO $$ BEGIN
    EXECUTE format($f$CREATE FUNCTION pg_temp.short_rows(%s) RETURNS TABLE (rank int, item_id text)
                      AS '$libdir/recsys', 'recsys_rank_serve' LANGUAGE C STABLE$f$,
                   pg_get_function_arguments('recsys._rank_serve'::regproc));
END $$;
SET recsys.org_id = 'ffffffff-0000-0000-0000-00000000000d';
SELECT recsys.recsys_seed_synthetic('decl', '{"items": 50, "users": 5, "events": 200}');
SELECT throws_ok($$SELECT * FROM pg_temp.short_rows('ffffffff-0000-0000-0000-00000000000d', 'decl', 'default', NULL, now(),
                      5, 50, 50, 0, '{}', '{}', NULL, NULL, NULL, '{}', NULL, '{}', '{}', NULL, NULL, NULL, NULL, 0, 1, 1, 1,
                      0, 1, 0, 0, false, '{}', NULL, NULL, NULL, 0, 0)$$,
                 '55000', NULL, 'the serving function declared with 2 result columns raises 55000');
CREATE FUNCTION pg_temp.long_row(OUT read_only bigint, OUT standby bigint, OUT extra bigint)
    AS '$libdir/recsys', 'recsys_skipped_decisions' LANGUAGE C;
SELECT throws_ok($$SELECT * FROM pg_temp.long_row()$$, '55000', NULL,
                 'a one-row entry declared with 3 result columns instead of 2 raises 55000');
CREATE FUNCTION pg_temp.scalar_row() RETURNS bigint AS '$libdir/recsys', 'recsys_skipped_decisions' LANGUAGE C;
SELECT throws_ok($$SELECT pg_temp.scalar_row()$$, '55000', NULL,
                 'a one-row entry declared as a scalar raises 55000');

-- The message names the SQL function and the hint says what to do.
CREATE FUNCTION pg_temp.message_of(sql text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;
SELECT is((SELECT ARRAY[m.message, m.detail] FROM pg_temp.message_of('SELECT * FROM pg_temp.long_row()') m),
          ARRAY[format('function %s.long_row() does not match the loaded recsys library', pg_my_temp_schema()::regnamespace),
                'The library''s recsys_skipped_decisions has 2 result columns; the SQL declaration has 3.'],
          'the error names the SQL function and the library entry with both column counts');
SELECT is((SELECT m.hint FROM pg_temp.message_of('SELECT * FROM pg_temp.long_row()') m),
          'Run ALTER EXTENSION recsys UPDATE, or install the library that matches the installed version of the extension.',
          'the hint says how to bring the two together');

SELECT * FROM finish();
ROLLBACK;
