// A log line written from what a client sent stays one line: no forged
// entries in a log root may read.

#include <gtest/gtest.h>

#include "services/log.hpp"

namespace banger {
namespace {

TEST(log_escape, newlines_and_escapes_become_visible_text) {
  EXPECT_EQ(log::escape_control("vm.list\n2026-01-01 info [bangerd] fake"),
            "vm.list\\x0a2026-01-01 info [bangerd] fake");
  EXPECT_EQ(log::escape_control("a\rb\x1b[2Jc"), "a\\x0db\\x1b[2Jc");
  EXPECT_EQ(log::escape_control(std::string("nul\0del\x7f", 8)),
            "nul\\x00del\\x7f");
}

TEST(log_escape, printable_text_and_utf8_stay_as_they_are) {
  EXPECT_EQ(log::escape_control("box-1 keeps été {}"), "box-1 keeps été {}");
  EXPECT_EQ(log::escape_control("tab\there"), "tab\\x09here");
  EXPECT_EQ(log::escape_control(""), "");
}

} // namespace
} // namespace banger
