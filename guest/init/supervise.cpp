#include "guest/init/supervise.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>

#include <sys/reboot.h>
#include <sys/wait.h>

#include "guest/init/console.hpp"

namespace banger::init {

std::chrono::seconds restart_delay(int quick_deaths) {
  int exponent = std::clamp(quick_deaths - 1, 0, 5);
  return std::min(std::chrono::seconds(1 << exponent),
                  std::chrono::seconds(30));
}

void note_exit(service& s, clock::time_point now) {
  s.pid = -1;
  if (now - s.started < steady_run)
    ++s.quick_deaths;
  else
    s.quick_deaths = 0;
  s.next_start = now + restart_delay(std::max(s.quick_deaths, 1));
}

bool start_if_due(service& s, clock::time_point now) {
  if (s.pid >= 0 || !s.start || now < s.next_start)
    return false;
  s.pid = s.start();
  s.started = now;
  if (s.pid < 0)
    note_exit(s, now);
  return s.pid >= 0;
}

[[noreturn]] void stay_pid1(std::vector<service> services) {
  sigset_t set;
  sigfillset(&set);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  for (;;) {
    timespec tick{1, 0};
    int sig = ::sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT)
      power_off(RB_AUTOBOOT);
    if (sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGPWR)
      power_off(RB_POWER_OFF);
    auto now = clock::now();
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
      for (auto& s : services)
        if (s.pid == pid) {
          note_exit(s, now);
          say(s.name + " exited; restarting it in "
              + std::to_string((s.next_start - now) / std::chrono::seconds(1))
              + " s");
        }
    for (auto& s : services)
      if (start_if_due(s, now))
        say("restarted " + s.name);
  }
}

std::string uptime_text() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld.%02ld", static_cast<long>(ts.tv_sec),
                static_cast<long>(ts.tv_nsec / 10000000));
  return buf;
}

} // namespace banger::init
