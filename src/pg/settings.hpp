// The recsys.* settings (GUCs), all defined in settings.cpp.
#pragma once

namespace recsys_pg {

// Registers every recsys.* setting; called once from _PG_init.
void define_settings();

}  // namespace recsys_pg
