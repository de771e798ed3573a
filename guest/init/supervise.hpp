#pragma once
// banger-init as PID 1 when the image has no init: it reaps orphans, powers
// off on the signals busybox's halt/poweroff/reboot send, and keeps its
// services (the agent, the fallback sshd) running. A service that keeps
// dying is restarted less and less often, so a broken one cannot flood the
// console or eat the CPU.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace banger::init {

using clock = std::chrono::steady_clock;

struct service {
  std::string name;
  std::function<pid_t()> start; // fork + exec; returns the pid or -1
  pid_t pid = -1;
  int quick_deaths = 0; // deaths in a row soon after a start
  clock::time_point started{};
  clock::time_point next_start{};
};

/// A run shorter than this counts as a quick death.
inline constexpr std::chrono::seconds steady_run{10};

/// How long to wait before restarting after `quick_deaths` quick deaths in
/// a row: 1 s, 2 s, 4 s, ... at most 30 s. Pure.
std::chrono::seconds restart_delay(int quick_deaths);

/// Records that `s` exited at `now` and when it may start again. Pure.
void note_exit(service& s, clock::time_point now);

/// Starts `s` if it is down and due; true if it was started now.
bool start_if_due(service& s, clock::time_point now);

/// Never returns: the PID 1 loop over `services` (already started or not).
[[noreturn]] void stay_pid1(std::vector<service> services);

/// Seconds since the kernel started, for console lines ("3.21").
std::string uptime_text();

} // namespace banger::init
