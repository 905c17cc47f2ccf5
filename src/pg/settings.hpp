// The recsys.* settings (GUCs), all defined in settings.cpp.
#pragma once

namespace recsys_pg {

// Registers every recsys.* setting; called once from _PG_init.
void define_settings();

// recsys.bandit_seed (0: use real randomness).
int bandit_seed();

// recsys.serving_threads: 1, 2, or serving_threads_auto (2 while a core is idle).
constexpr int serving_threads_auto = 0;
int serving_threads();

// recsys.catalog_huge_pages: advise transparent huge pages after a catalogue load.
bool catalog_huge_pages();

}  // namespace recsys_pg
