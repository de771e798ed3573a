#pragma once
// What a crash of bangerd can leave half done in the VM directories, and how
// the next daemon finishes it before it adopts anything:
//   - a create that had not finished (its directory still holds the
//     `creating` marker): undone - VMM killed, row deleted, directory gone;
//   - a delete that had removed the directory (it is renamed away first, so a
//     row without a directory means exactly that): finished - row deleted;
//   - a VMM that was launched but whose pid never reached the row (the crash
//     fell between launch and the save): killed;
//   - a directory under vms/ that no row names (a create that died before its
//     row was written, or the renamed directory of a delete): removed.
// TAPs and NAT rules of the VMs dropped here are then leftovers for the
// network reconcile in main.cpp.

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "services/paths.hpp"
#include "services/store.hpp"
#include "services/vmm.hpp"

namespace banger {

/// The marker file in a VM's directory while its create runs.
inline constexpr const char* creating_marker = "creating";

/// Writes `dir`/creating (and syncs it).
caf::expected<void> mark_creating(const std::string& dir);
/// Removes `dir`/creating; fine if it is not there.
caf::expected<void> clear_creating(const std::string& dir);

/// Where a delete moves a VM's directory before it removes it.
std::string deleting_path(const std::string& dir);

struct vm_reconcile_report {
  std::vector<vm_record> kept;    // the rows to adopt
  std::vector<std::string> notes; // one log line per thing done
};

/// Applies the rules above to `records` (the rows of `db`) and the
/// directories under p.vms_dir(). Blocking (kills, file I/O): main() only.
vm_reconcile_report reconcile_vms(const paths& p, store& db, vmm_driver& driver,
                                  std::vector<vm_record> records);

} // namespace banger
