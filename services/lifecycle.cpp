#include "services/lifecycle.hpp"

#include <array>
#include <cctype>
#include <csignal>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "services/error.hpp"

namespace banger {

namespace {

constexpr std::array state_names{"created",  "starting", "running",
                                 "stopping", "stopped",  "error"};
constexpr std::array op_names{"start",   "stop",       "kill",
                              "exec",    "delete",     "boot_ok",
                              "boot_failed", "vmm_exited", "stop_done"};

bool in(vm_state s, std::initializer_list<vm_state> set) {
  for (auto x : set)
    if (x == s)
      return true;
  return false;
}

// How the refusal sentences describe a VM in a state.
std::string describe(vm_state s, std::string_view name) {
  switch (s) {
    case vm_state::created:
      return fmt::format("VM \"{}\" has never been started", name);
    case vm_state::starting:
      return fmt::format("VM \"{}\" is still starting", name);
    case vm_state::running:
      return fmt::format("VM \"{}\" is running", name);
    case vm_state::stopping:
      return fmt::format("VM \"{}\" is stopping", name);
    case vm_state::stopped:
      return fmt::format("VM \"{}\" is stopped", name);
    case vm_state::error:
      return fmt::format("VM \"{}\" failed to start (see: banger vm show {})",
                         name, name);
  }
  return fmt::format("VM \"{}\" is in an unknown state", name);
}

caf::error refuse(vm_state from, vm_op op, std::string_view name) {
  using S = vm_state;
  auto vm = describe(from, name);
  std::string what;
  switch (op) {
    case vm_op::start:
      what = from == S::running ? fmt::format("VM \"{}\" is already running", name)
             : from == S::starting
               ? fmt::format("VM \"{}\" is already starting; wait for it, or stop "
                             "it with: banger vm stop {}",
                             name, name)
               : fmt::format("{}; start it again once it has stopped with: banger "
                             "vm start {}",
                             vm, name);
      break;
    case vm_op::stop:
      what = from == S::stopped ? fmt::format("VM \"{}\" is already stopped", name)
             : from == S::stopping
               ? fmt::format("VM \"{}\" is already stopping; wait for it to "
                             "stop, or use: banger vm delete -f {}",
                             name, name)
               : fmt::format("{}, so there is nothing to stop", vm);
      break;
    case vm_op::kill:
      what = fmt::format("{}, so there is nothing to kill", vm);
      break;
    case vm_op::exec:
      what = from == S::starting
               ? fmt::format("{}; wait until it is running, then retry", vm)
             : from == S::stopping
               ? fmt::format("{}; start it again once it has stopped with: banger "
                             "vm start {}",
                             vm, name)
               : fmt::format("{}; start it first with: banger vm start {}", vm, name);
      break;
    case vm_op::delete_:
      what = fmt::format("{}; stop it first with: banger vm stop {}, or use -f: "
                         "banger vm delete -f {}",
                         vm, name, name);
      break;
    default:
      // Daemon-side events: a refusal means a late or duplicate event (e.g.
      // the VMM exit seen after a kill), which the caller may ignore.
      what = fmt::format("event {} does not apply to VM \"{}\" in state {}; it "
                         "is a late or duplicate event and can be ignored",
                         to_string(op), name, to_string(from));
      break;
  }
  return make_error(ec::bad_state, std::move(what));
}

} // namespace

const char* to_string(vm_state s) {
  auto i = static_cast<std::size_t>(s);
  return i < state_names.size() ? state_names[i] : "unknown";
}

const char* to_string(vm_op op) {
  auto i = static_cast<std::size_t>(op);
  return i < op_names.size() ? op_names[i] : "unknown";
}

std::optional<vm_state> parse_vm_state(std::string_view s) {
  for (std::size_t i = 0; i < state_names.size(); ++i)
    if (s == state_names[i])
      return static_cast<vm_state>(i);
  return std::nullopt;
}

bool is_active(vm_state s) {
  return in(s, {vm_state::starting, vm_state::running, vm_state::stopping});
}

caf::expected<vm_state> vm_state_transition(vm_state from, vm_op op,
                                            std::string_view name) {
  using S = vm_state;
  switch (op) {
    case vm_op::start:
      if (in(from, {S::created, S::stopped, S::error}))
        return S::starting;
      break;
    case vm_op::boot_ok:
      if (from == S::starting)
        return S::running;
      break;
    case vm_op::boot_failed:
      if (from == S::starting)
        return S::error;
      break;
    case vm_op::stop:
      if (in(from, {S::running, S::starting}))
        return S::stopping;
      break;
    case vm_op::stop_done:
      if (from == S::stopping)
        return S::stopped;
      break;
    case vm_op::vmm_exited:
    case vm_op::kill:
      if (is_active(from))
        return S::stopped;
      break;
    case vm_op::exec:
      if (from == S::running)
        return S::running;
      break;
    case vm_op::delete_:
      if (in(from, {S::created, S::stopped, S::error}))
        return from;
      break;
  }
  return refuse(from, op, name);
}

std::optional<int> parse_kill_signal(std::string_view s) {
  std::string name;
  for (char c : s)
    name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.empty())
    return SIGKILL;
  if (name.size() > 3 && name.rfind("SIG", 0) == 0)
    name.erase(0, 3);
  static constexpr std::pair<const char*, int> known[] = {
    {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT}, {"HUP", SIGHUP}};
  for (auto [n, sig] : known)
    if (name == n || name == std::to_string(sig))
      return sig;
  return std::nullopt;
}

} // namespace banger
