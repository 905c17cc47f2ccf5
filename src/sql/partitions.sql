-- Monthly partitions of recsys.events. Rows for a month without a partition (plain INSERT/COPY)
-- land in recsys.events_default; _ensure_event_partitions moves them into their month when it
-- creates that month's partition.

-- Name of the partition holding the month that starts at `month_start`.
CREATE FUNCTION recsys._event_partition_name(month_start timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN 'events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');

-- Creates the monthly partitions covering [first_ts, last_ts] that do not exist yet.
CREATE FUNCTION recsys._ensure_event_partitions(first_ts timestamptz, last_ts timestamptz) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
AS $$
DECLARE
    month_start timestamptz := date_trunc('month', first_ts);
    month_end timestamptz;
    part text;
    created int := 0;
BEGIN
    IF first_ts IS NULL OR last_ts IS NULL THEN
        RETURN 0;
    END IF;
    IF last_ts - first_ts > interval '100 years' THEN
        RAISE EXCEPTION 'events span more than 100 years (% to %)', first_ts, last_ts USING ERRCODE = '22023';
    END IF;
    WHILE month_start <= last_ts LOOP
        month_end := month_start + interval '1 month';
        part := recsys._event_partition_name(month_start);
        IF to_regclass('recsys.' || quote_ident(part)) IS NULL THEN
            -- One creator at a time; re-check after waiting.
            PERFORM pg_advisory_xact_lock(hashtext('recsys.event_partitions'));
            IF to_regclass('recsys.' || quote_ident(part)) IS NULL THEN
                -- Keep writers out while the month moves: an insert routed to the default
                -- partition before the new partition exists would fail after it is attached.
                -- Waiting here also makes their rows visible to the check below.
                LOCK TABLE recsys.events IN SHARE ROW EXCLUSIVE MODE;
                IF EXISTS (SELECT 1 FROM recsys.events_default WHERE ts >= month_start AND ts < month_end) THEN
                    -- Rows of that month already sit in the default partition: move them
                    -- (writing the partitions directly fires no derived-state triggers).
                    EXECUTE format('CREATE TABLE recsys.%I (LIKE recsys.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
                    EXECUTE format('WITH moved AS (DELETE FROM recsys.events_default WHERE ts >= $1 AND ts < $2 RETURNING *)
                                    INSERT INTO recsys.%I SELECT * FROM moved', part)
                        USING month_start, month_end;
                    EXECUTE format('ALTER TABLE recsys.events ATTACH PARTITION recsys.%I FOR VALUES FROM (%L) TO (%L)',
                                   part, month_start, month_end);
                ELSE
                    EXECUTE format('CREATE TABLE recsys.%I PARTITION OF recsys.events FOR VALUES FROM (%L) TO (%L)',
                                   part, month_start, month_end);
                END IF;
                PERFORM recsys._index_event_partition(part);
                created := created + 1;
            END IF;
        END IF;
        month_start := month_end;
    END LOOP;
    RETURN created;
END
$$;
