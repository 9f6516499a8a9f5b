-- Read-your-writes needs to know when every event up to a position has been
-- projected. global_position is drawn at insert time, so a transaction still
-- running may hold positions below ones already committed and projected.
--
-- Before a transaction's first insert draws any position, this trigger takes a
-- shared, transaction-scoped advisory lock whose key announces "my positions
-- will be at least v", v being the identity sequence's next value. Other
-- sessions see the lock in pg_locks at once, and it goes away at commit or
-- rollback. Projectors read pg_locks (then the events) to bound how far
-- everything is known to be projected.
--
-- Key layout (bigint): high 16 bits 0x5143 ('QC'), low 48 bits v. In pg_locks:
-- classid = high 32 bits, objid = low 32 bits, objsubid = 1.
--
-- A BEFORE ... FOR EACH STATEMENT trigger runs before the statement evaluates
-- its rows, and so before the identity default draws a value.
CREATE FUNCTION qicoo_announce_inflight_positions() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    last_drawn bigint;
    drawn      boolean;
    next_value bigint;
BEGIN
    IF current_setting('qicoo.announced', true) = '1' THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT last_value, is_called FROM %s',
                   pg_get_serial_sequence(quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME),
                                          'global_position'))
        INTO last_drawn, drawn;
    next_value := CASE WHEN drawn THEN last_drawn + 1 ELSE last_drawn END;
    PERFORM pg_advisory_xact_lock_shared((x'5143'::bigint << 48) | next_value);
    PERFORM set_config('qicoo.announced', '1', true);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_announce_inflight_positions
    BEFORE INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION qicoo_announce_inflight_positions();
