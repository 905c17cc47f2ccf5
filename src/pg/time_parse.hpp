// Parsing a concrete point in time without raising (sql_helpers.cpp).
#pragma once

extern "C" {
#include "postgres.h"

#include "datatype/timestamp.h"
}

namespace recsys_pg {

// Parses text as timestamptz into *out; false (never an error) when it is not a concrete time
// ('now', 'epoch', 'infinity' and the like are refused).
bool parse_time(const char* input, TimestampTz* out);

}  // namespace recsys_pg
