// Module entry: the magic block and start-up of the recsys shared library.
extern "C" {
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

#include "pg/shared_state.hpp"
#include "pg/settings.hpp"
#include "pg/catalog_cache.hpp"

// Called once when the library is loaded into a backend.
extern "C" void _PG_init(void) {
    recsys_pg::define_settings();
    recsys_pg::request_shared_state();
    recsys_pg::register_catalog_callbacks();
}
