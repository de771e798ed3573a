#pragma once
// A private network namespace per test with banger-helper running inside it.
// The test's thread moves into a fresh namespace (unshare), starts the
// helper there (it dies with the test: PR_SET_PDEATHSIG), and moves back at
// the end; the namespace, with every link and nft table in it, disappears
// when its last user is gone, even if the test crashed.

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/types.h>

namespace banger::test {

/// The uid the helper serves in tests; "nobody" exists everywhere.
inline constexpr uid_t owner_uid = 65534;
/// The helper's --bridge and --subnet in tests (its bridge: 10.77.0.1/24).
inline constexpr const char* test_bridge = "bgtest0";
inline constexpr const char* test_subnet = "10.77.0.0/24";
/// A uid that is neither root nor the owner.
inline constexpr uid_t stranger_uid = 65533;

class helper_netns : public ::testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  /// Starts banger-helper with extra flags; waits until it accepts.
  /// `wrapper` (e.g. setpriv and its options) runs it when not empty.
  void start_helper(std::vector<std::string> extra = {},
                    std::vector<std::string> wrapper = {});
  /// SIGTERM, then waits; returns the exit status (waitpid's).
  int stop_helper();
  std::string helper_log() const;

  std::string dir_;
  std::string socket_;
  pid_t helper_pid_ = -1;

private:
  int orig_ns_ = -1;
};

/// A namespace with banger-helper already running (default flags).
class running_helper : public helper_netns {
protected:
  void SetUp() override {
    helper_netns::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    start_helper();
  }
};

} // namespace banger::test
