// SQL set-returning functions over the core's synthetic generator; recsys_seed_synthetic
// (src/sql/synthetic.sql) inserts their rows through the ordinary tables and triggers.
#include <cstdio>

#include "core/synthetic.hpp"
#include "pg/boundary.hpp"
#include "pg/declaration.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

namespace {

constexpr double unix_to_postgres_epoch = 946684800.0;  // seconds from 1970-01-01 to 2000-01-01

// Reads the generator configuration from the common leading arguments of the SRFs.
recsys::SyntheticConfig read_config(FunctionCallInfo fcinfo) {
    recsys::SyntheticConfig config;
    config.seed = static_cast<uint64_t>(PG_GETARG_INT64(0));
    config.items = PG_GETARG_INT64(1);
    config.users = PG_GETARG_INT64(2);
    config.events = PG_GETARG_INT64(3);
    config.dim = PG_GETARG_INT32(4);
    config.categories = PG_GETARG_INT32(5);
    config.brands_per_category = PG_GETARG_INT32(6);
    config.window_days = PG_GETARG_FLOAT8(7);
    config.available_share = PG_GETARG_FLOAT8(8);
    config.end_unix = static_cast<double>(PG_GETARG_TIMESTAMPTZ(9)) / 1e6 + unix_to_postgres_epoch;
    return config;
}

TimestampTz to_timestamptz(double unix_seconds) {
    return static_cast<TimestampTz>((unix_seconds - unix_to_postgres_epoch) * 1e6);
}

Datum text_datum(const char* text) {
    return PointerGetDatum(cstring_to_text(text));
}

Datum jsonb_datum(const char* json) {
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

// A memory context for one row's datums, reset after the row is stored.
MemoryContext row_context() {
    return AllocSetContextCreate(CurrentMemoryContext, "recsys synthetic row", ALLOCSET_DEFAULT_SIZES);
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_synthetic_validate);
PG_FUNCTION_INFO_V1(recsys_synthetic_items);
PG_FUNCTION_INFO_V1(recsys_synthetic_users);
PG_FUNCTION_INFO_V1(recsys_synthetic_events);

// Checks a generator configuration; raises 22023 naming the first option out of range.
Datum recsys_synthetic_validate(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 10);
    recsys::SyntheticConfig config = read_config(fcinfo);
    recsys_pg::core_call([&] { recsys::validate(config); });
    PG_RETURN_VOID();
}

// Items: item_id, available, price, brand, category, tags, props, embedding, created_at.
Datum recsys_synthetic_items(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 10);
    recsys::SyntheticConfig config = read_config(fcinfo);
    recsys_pg::core_call([&] { recsys::validate(config); });
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 9);

    float* embedding = static_cast<float*>(palloc(sizeof(float) * (config.dim > 0 ? config.dim : 1)));
    Datum* embedding_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (config.dim > 0 ? config.dim : 1)));
    recsys::SyntheticItem item;
    MemoryContext rows = row_context();
    for (int64 i = 0; i < config.items; ++i) {
        MemoryContext outer = MemoryContextSwitchTo(rows);
        CHECK_FOR_INTERRUPTS();
        recsys_pg::core_call([&] { recsys::synthetic_item(config, i, &item, embedding); });
        Datum tags[recsys::synthetic_max_tags];
        for (int t = 0; t < item.tag_count; ++t) tags[t] = text_datum(item.tags[t]);
        char props[64];
        snprintf(props, sizeof(props), "{\"margin\": %.2f}", item.margin);

        Datum values[9];
        bool nulls[9] = {false, false, false, false, false, false, false, config.dim == 0, false};
        values[0] = text_datum(item.item_id);
        values[1] = BoolGetDatum(item.available);
        values[2] = Float8GetDatum(item.price);
        values[3] = text_datum(item.brand);
        values[4] = text_datum(item.category);
        values[5] = PointerGetDatum(construct_array(tags, item.tag_count, TEXTOID, -1, false, TYPALIGN_INT));
        values[6] = jsonb_datum(props);
        if (config.dim > 0) {
            for (int d = 0; d < config.dim; ++d) embedding_datums[d] = Float4GetDatum(embedding[d]);
            values[7] = PointerGetDatum(
                construct_array(embedding_datums, config.dim, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
        } else {
            values[7] = static_cast<Datum>(0);
        }
        values[8] = TimestampTzGetDatum(to_timestamptz(item.created_unix));
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        MemoryContextSwitchTo(outer);
        MemoryContextReset(rows);
    }
    return static_cast<Datum>(0);
}

// Users: user_id, traits.
Datum recsys_synthetic_users(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 10);
    recsys::SyntheticConfig config = read_config(fcinfo);
    recsys_pg::core_call([&] { recsys::validate(config); });
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 2);

    recsys::SyntheticUser user;
    MemoryContext rows = row_context();
    for (int64 i = 0; i < config.users; ++i) {
        MemoryContext outer = MemoryContextSwitchTo(rows);
        CHECK_FOR_INTERRUPTS();
        recsys_pg::core_call([&] { recsys::synthetic_user(config, i, &user); });
        char traits[256];
        snprintf(traits, sizeof(traits),
                      "{\"segment\": \"%s\", \"tier\": \"%s\", \"age\": %d, \"country\": \"%s\", "
                      "\"signup_days_ago\": %d}",
                      user.segment, user.tier, user.age, user.country, user.signup_days_ago);
        Datum values[2] = {text_datum(user.user_id), jsonb_datum(traits)};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        MemoryContextSwitchTo(outer);
        MemoryContextReset(rows);
    }
    return static_cast<Datum>(0);
}

// Events: event_id, user_id, item_id, type, ts.
Datum recsys_synthetic_events(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 10);
    recsys::SyntheticConfig config = read_config(fcinfo);
    recsys_pg::core_call([&] { recsys::validate(config); });
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 5);

    recsys::SyntheticEvent event;
    MemoryContext rows = row_context();
    for (int64 i = 0; i < config.events; ++i) {
        MemoryContext outer = MemoryContextSwitchTo(rows);
        if ((i & 1023) == 0) CHECK_FOR_INTERRUPTS();
        recsys_pg::core_call([&] { recsys::synthetic_event(config, i, &event); });
        Datum values[5] = {text_datum(event.event_id), text_datum(event.user_id), text_datum(event.item_id),
                           Int16GetDatum(static_cast<int16>(event.type)),
                           TimestampTzGetDatum(to_timestamptz(event.ts_unix))};
        bool nulls[5] = {false, false, false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        MemoryContextSwitchTo(outer);
        MemoryContextReset(rows);
    }
    return static_cast<Datum>(0);
}

}  // extern "C"
