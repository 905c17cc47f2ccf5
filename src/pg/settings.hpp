// The recsys.* settings (GUCs), all defined in settings.cpp.
#pragma once

namespace recsys_pg {

// Registers every recsys.* setting; called once from _PG_init.
void define_settings();

// recsys.bandit_seed (0: use real randomness).
int bandit_seed();

// recsys.serving_threads: threads one ranking request may use.
int serving_threads();

}  // namespace recsys_pg
