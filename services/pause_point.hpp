#pragma once
// Crash-test pause points (test/e2e/crash_stages.sh). Always compiled in and
// inert unless $BANGER_PAUSE_AT names a stage: then the thread that reaches
// that stage appends "paused STAGE" to $BANGER_PAUSE_FILE (if set), logs it,
// and blocks until the process is killed. The test kills bangerd there with
// SIGKILL and checks what the next daemon makes of the half-done operation.
//
// Stages (where they sit is documented at each call):
//   create.after_row create.after_tap create.after_disks create.after_launch
//   create.before_ready
//   stop.after_sync stop.after_poweroff stop.after_vmm_exit
//   delete.after_vmm_kill delete.after_tap_release delete.after_disk_removal
//   delete.before_row_delete

#include <string_view>

namespace banger {

/// Blocks forever if $BANGER_PAUSE_AT == stage; returns at once otherwise.
void pause_point(std::string_view stage);

} // namespace banger
