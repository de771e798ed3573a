// The VM state machine: every (state, op) pair against the table, and the
// refusals name the VM and say what to do.

#include "services/lifecycle.hpp"

#include <csignal>
#include <map>
#include <optional>
#include <utility>

#include <gtest/gtest.h>

#include "services/error.hpp"

namespace banger {
namespace {

using S = vm_state;
using O = vm_op;

constexpr S all_states[] = {S::created, S::starting, S::running,
                            S::stopping, S::stopped, S::error};
constexpr O all_ops[] = {O::start,   O::stop,        O::kill,
                         O::exec,    O::delete_,     O::boot_ok,
                         O::boot_failed, O::vmm_exited, O::stop_done};

// The allowed transitions, written out independently of the implementation;
// every pair not listed must be refused.
const std::map<std::pair<S, O>, S> allowed = {
  {{S::created, O::start}, S::starting},
  {{S::stopped, O::start}, S::starting},
  {{S::error, O::start}, S::starting},
  {{S::starting, O::boot_ok}, S::running},
  {{S::starting, O::boot_failed}, S::error},
  {{S::running, O::stop}, S::stopping},
  {{S::starting, O::stop}, S::stopping},
  {{S::stopping, O::stop_done}, S::stopped},
  {{S::running, O::vmm_exited}, S::stopped},
  {{S::starting, O::vmm_exited}, S::stopped},
  {{S::stopping, O::vmm_exited}, S::stopped},
  {{S::running, O::kill}, S::stopped},
  {{S::starting, O::kill}, S::stopped},
  {{S::stopping, O::kill}, S::stopped},
  {{S::running, O::exec}, S::running},
  {{S::created, O::delete_}, S::created},
  {{S::stopped, O::delete_}, S::stopped},
  {{S::error, O::delete_}, S::error},
};

TEST(lifecycle, every_state_op_pair_matches_the_table) {
  int checked = 0;
  for (auto from : all_states) {
    for (auto op : all_ops) {
      ++checked;
      auto got = vm_state_transition(from, op, "web-1");
      auto it = allowed.find({from, op});
      auto where = std::string(to_string(from)) + " + " + to_string(op);
      if (it != allowed.end()) {
        ASSERT_TRUE(got) << where << ": " << error_message(got.error());
        EXPECT_EQ(*got, it->second) << where;
      } else {
        ASSERT_FALSE(got) << where << " should be refused, got "
                          << to_string(*got);
        EXPECT_EQ(error_code(got.error()), ec::bad_state) << where;
        auto msg = error_message(got.error());
        EXPECT_NE(msg.find("\"web-1\""), std::string::npos) << where << ": " << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << where << ": " << msg;
      }
    }
  }
  EXPECT_EQ(checked, 54);
}

std::string refusal(S from, O op, std::string_view name = "db") {
  auto r = vm_state_transition(from, op, name);
  return r ? std::string("(allowed)") : error_message(r.error());
}

TEST(lifecycle, refusals_say_what_to_do) {
  EXPECT_EQ(refusal(S::stopped, O::exec),
            "VM \"db\" is stopped; start it first with: banger vm start db");
  EXPECT_NE(refusal(S::created, O::exec).find("banger vm start db"),
            std::string::npos);
  EXPECT_NE(refusal(S::stopped, O::stop).find("already stopped"), std::string::npos);
  EXPECT_NE(refusal(S::running, O::start).find("already running"), std::string::npos);
  for (auto s : {S::running, S::starting, S::stopping}) {
    auto msg = refusal(s, O::delete_);
    EXPECT_NE(msg.find("stop it first"), std::string::npos) << msg;
    EXPECT_NE(msg.find("-f"), std::string::npos) << msg;
  }
  EXPECT_NE(refusal(S::error, O::exec).find("banger vm show db"), std::string::npos);
  EXPECT_NE(refusal(S::starting, O::exec).find("wait"), std::string::npos);
}

TEST(lifecycle, the_name_is_the_one_given) {
  EXPECT_NE(refusal(S::stopped, O::kill, "other-vm").find("\"other-vm\""),
            std::string::npos);
  EXPECT_EQ(refusal(S::stopped, O::kill, "other-vm").find("\"db\""),
            std::string::npos);
}

TEST(lifecycle, state_names_round_trip) {
  for (auto s : all_states) {
    auto parsed = parse_vm_state(to_string(s));
    ASSERT_TRUE(parsed.has_value()) << to_string(s);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(parse_vm_state("Running").has_value());
  EXPECT_FALSE(parse_vm_state("").has_value());
  EXPECT_FALSE(parse_vm_state("deleted").has_value());
  EXPECT_STREQ(to_string(S::error), "error");
  EXPECT_STREQ(to_string(O::delete_), "delete");
}

TEST(lifecycle, active_states_are_those_with_a_vmm) {
  for (auto s : all_states)
    EXPECT_EQ(is_active(s), s == S::starting || s == S::running || s == S::stopping)
      << to_string(s);
}

} // namespace
} // namespace banger

TEST(KillSignal, NamesNumbersAndTheDefault) {
  EXPECT_EQ(banger::parse_kill_signal(""), SIGKILL);
  EXPECT_EQ(banger::parse_kill_signal("KILL"), SIGKILL);
  EXPECT_EQ(banger::parse_kill_signal("sigterm"), SIGTERM);
  EXPECT_EQ(banger::parse_kill_signal("SIGINT"), SIGINT);
  EXPECT_EQ(banger::parse_kill_signal("hup"), SIGHUP);
  EXPECT_EQ(banger::parse_kill_signal("15"), SIGTERM);
  EXPECT_EQ(banger::parse_kill_signal("9"), SIGKILL);
  for (auto bad : {"USR1", "STOP", "SIG", "0", "19", "TERMX", " KILL"})
    EXPECT_FALSE(banger::parse_kill_signal(bad)) << bad;
}
