#include "cli/detach_keys.hpp"
#include "cli/render.hpp"
#include "services/process.hpp"

#include <csignal>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "messages/wire.hpp"

namespace {

using namespace banger;
using namespace banger::cli;

std::string payload_of(const wire::envelope& env) {
  return wire::encode_frame(env).substr(4);
}

// -- exit codes
// -------------------------------------------------------------------

TEST(cli_exit_code, passes_the_commands_own_code_through) {
  EXPECT_EQ(exit_code_of({0, 0}), 0);
  EXPECT_EQ(exit_code_of({7, 0}), 7);
  EXPECT_EQ(exit_code_of({255, 0}), 255);
}

TEST(cli_exit_code, maps_a_signal_to_128_plus_its_number) {
  EXPECT_EQ(exit_code_of({0, SIGKILL}), 137);
  EXPECT_EQ(exit_code_of({143, SIGTERM}), 143);
  // The signal wins even if exit_code disagrees.
  EXPECT_EQ(exit_code_of({1, SIGINT}), 130);
}

TEST(cli_exit_code, keeps_the_low_byte_like_the_os) {
  EXPECT_EQ(exit_code_of({256, 0}), 0);
  EXPECT_EQ(exit_code_of({-1, 0}), 255);
}

TEST(cli_exit_code, constants_match_the_documented_convention) {
  EXPECT_EQ(exit_ok, 0);
  EXPECT_EQ(exit_failure, 1);
  EXPECT_EQ(exit_usage, 2);
  EXPECT_EQ(exit_run_failure, 125);
}

TEST(cli_signal_policy, forwards_then_cancels_then_abandons_on_sigint) {
  EXPECT_EQ(action_for_signal(SIGINT, 0), signal_action::forward);
  EXPECT_EQ(action_for_signal(SIGINT, 1), signal_action::cancel);
  EXPECT_EQ(action_for_signal(SIGINT, 2), signal_action::abandon);
}

TEST(cli_signal_policy, always_forwards_sigterm_and_sighup) {
  for (int before : {0, 1, 5}) {
    EXPECT_EQ(action_for_signal(SIGTERM, before), signal_action::forward);
    EXPECT_EQ(action_for_signal(SIGHUP, before), signal_action::forward);
  }
}

// -- tables
// -------------------------------------------------------------------------

TEST(cli_table, aligns_columns_with_two_spaces_and_no_trailing_blanks) {
  table t({"NAME", "STATE", "MEM"});
  t.add_row({{"box"}, {"running"}, {"512MiB"}});
  t.add_row({{"a-longer-name"}, {"stopped"}, {"2GiB"}});
  EXPECT_EQ(t.render(false), "NAME           STATE    MEM\n"
                             "box            running  512MiB\n"
                             "a-longer-name  stopped  2GiB\n");
}

TEST(cli_table, colour_does_not_shift_columns) {
  table t({"NAME", "STATE", "X"});
  t.add_row({{"box"}, {"running", sgr::green}, {"1"}});
  EXPECT_EQ(t.render(true), "NAME  STATE    X\n"
                            "box   \x1b[32mrunning\x1b[0m  1\n");
}

TEST(cli_table, measures_utf8_by_code_points) {
  table t({"NAME", "X"});
  t.add_row({{"größe"}, {"1"}});
  t.add_row({{"ab"}, {"2"}});
  EXPECT_EQ(t.render(false), "NAME   X\n"
                             "größe  1\n"
                             "ab     2\n");
}

TEST(cli_table, empty_table_prints_the_header_and_empty_last_cells_no_padding) {
  table t({"NAME", "IMAGE"});
  EXPECT_EQ(t.render(false), "NAME  IMAGE\n");
  t.add_row({{"box"}, {""}});
  EXPECT_EQ(t.render(false), "NAME  IMAGE\nbox\n");
}

TEST(cli_table, short_rows_are_padded_with_empty_cells) {
  table t({"A", "B", "C"});
  t.add_row({{"x"}});
  EXPECT_EQ(t.render(false), "A  B  C\nx\n");
}

// -- terminal escaping
// ---------------------------------------------------------------------------

TEST(cli_terminal_safe, escapes_c0_del_and_esc_visibly) {
  EXPECT_EQ(terminal_safe("plain text: 1-2_3"), "plain text: 1-2_3");
  EXPECT_EQ(terminal_safe("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
  EXPECT_EQ(terminal_safe("a\rb\bc\x7f"), "a\\x0db\\x08c\\x7f");
  EXPECT_EQ(terminal_safe(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(terminal_safe("two\nlines\tand tab"), "two\\x0alines\\x09and tab");
}

TEST(cli_terminal_safe, keeps_newlines_and_tabs_only_when_asked) {
  EXPECT_EQ(terminal_safe("line 1\n\tline 2\x1b[2J", true),
            "line 1\n\tline 2\\x1b[2J");
  EXPECT_EQ(terminal_safe("\r\n", true), "\\x0d\n");
}

TEST(cli_terminal_safe, escapes_c1_controls_and_bytes_that_are_not_utf8) {
  // U+009B is the one-character CSI of 8-bit terminals.
  EXPECT_EQ(terminal_safe("x\xc2\x9b" "2Jy"), "x\\u009b2Jy");
  EXPECT_EQ(terminal_safe("\x9b" "31m"), "\\x9b31m");       // a lone C1 byte
  EXPECT_EQ(terminal_safe("\xc0\xaf"), "\\xc0\\xaf");        // overlong '/'
  EXPECT_EQ(terminal_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80"); // a surrogate
  EXPECT_EQ(terminal_safe("cut \xe2\x82"), "cut \\xe2\\x82"); // truncated
}

TEST(cli_terminal_safe, passes_printable_utf8_through) {
  EXPECT_EQ(terminal_safe("größe \xc2\xa0 €  😀"), "größe \xc2\xa0 €  😀");
}

TEST(cli_table, escapes_what_cells_hold_and_aligns_on_the_escaped_text) {
  // `vm ports` with a guest process that names itself with an escape
  // sequence: the table shows it, the terminal does not obey it.
  table t({"ADDRESS", "PROCESS"});
  t.add_row({{"box.vm:22"}, {"\x1b[2J\x1b[Hevil\n (7)"}});
  t.add_row({{"box.vm:80"}, {"nginx (8)"}});
  auto out = t.render(false);
  EXPECT_EQ(out, "ADDRESS    PROCESS\n"
                 "box.vm:22  \\x1b[2J\\x1b[Hevil\\x0a (7)\n"
                 "box.vm:80  nginx (8)\n");
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  // Colour is the table's own escape, still there.
  table c({"S"});
  c.add_row({{"\x1b[31mx", sgr::green}});
  EXPECT_EQ(c.render(true), "S\n\x1b[32m\\x1b[31mx\x1b[0m\n");
}

TEST(cli_key_values, escapes_values) {
  EXPECT_EQ(key_values({{"last error", "boom\x1b]2;title\x07\nmore"}}),
            "last error:  boom\\x1b]2;title\\x07\\x0amore\n");
}

TEST(cli_error, escapes_the_message_but_keeps_its_lines) {
  EXPECT_EQ(format_error({"agent", "guest says \x1b[31mno\nsee log", "op\x1b"}, false),
            "banger: guest says \\x1b[31mno\nsee log (op op\\x1b)\n");
}

TEST(cli_key_values, aligns_values_and_dashes_empty_ones) {
  EXPECT_EQ(key_values({{"name", "box"}, {"last error", ""}, {"id", "ab"}}),
            "name:        box\n"
            "last error:  -\n"
            "id:          ab\n");
}

// -- durations, times, sizes
// -------------------------------------------------------------

TEST(cli_duration, one_decimal_rounded_half_up) {
  EXPECT_EQ(format_seconds(0), "0.0s");
  EXPECT_EQ(format_seconds(49), "0.0s");
  EXPECT_EQ(format_seconds(50), "0.1s");
  EXPECT_EQ(format_seconds(3400), "3.4s");
  EXPECT_EQ(format_seconds(3449), "3.4s");
  EXPECT_EQ(format_seconds(3450), "3.5s");
  EXPECT_EQ(format_seconds(9960), "10.0s");
  EXPECT_EQ(format_seconds(125000), "125.0s");
}

TEST(cli_time, parses_rfc3339_in_utc_and_with_offsets) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("2024-01-01T10:00:00Z"), 1704103200);
  EXPECT_EQ(parse_rfc3339("2024-01-01T10:00:00.123456Z"), 1704103200);
  EXPECT_EQ(parse_rfc3339("2024-01-01T12:00:00+02:00"), 1704103200);
  EXPECT_EQ(parse_rfc3339("2024-01-01T08:30:00-01:30"), 1704103200);
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), 1709164800);
}

TEST(cli_time, refuses_malformed_times) {
  EXPECT_FALSE(parse_rfc3339(""));
  EXPECT_FALSE(parse_rfc3339("2024-01-01"));
  EXPECT_FALSE(parse_rfc3339("2024-01-01T10:00:00"));
  EXPECT_FALSE(parse_rfc3339("2024-13-01T10:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-01-01T10:00:00Zjunk"));
  EXPECT_FALSE(parse_rfc3339("yesterday at noon!!"));
}

TEST(cli_time, ages_are_compact) {
  EXPECT_EQ(format_age(-5), "just now");
  EXPECT_EQ(format_age(0), "just now");
  EXPECT_EQ(format_age(42), "42s ago");
  EXPECT_EQ(format_age(60), "1m ago");
  EXPECT_EQ(format_age(3599), "59m ago");
  EXPECT_EQ(format_age(7200), "2h ago");
  EXPECT_EQ(format_age(86400 * 12 + 5), "12d ago");
}

TEST(cli_time, created_column) {
  EXPECT_EQ(format_created("", 0), "-");
  EXPECT_EQ(format_created("not a time", 0), "not a time");
  EXPECT_EQ(format_created("2024-01-01T10:00:00Z", 1704103200 + 300), "5m ago");
}

TEST(cli_size, mib_and_bytes_use_binary_units) {
  EXPECT_EQ(format_mib(512), "512MiB");
  EXPECT_EQ(format_mib(1024), "1GiB");
  EXPECT_EQ(format_mib(1536), "1.5GiB");
  EXPECT_EQ(format_mib(16384), "16GiB");
  EXPECT_EQ(format_bytes(0), "0B");
  EXPECT_EQ(format_bytes(1023), "1023B");
  EXPECT_EQ(format_bytes(1024), "1KiB");
  EXPECT_EQ(format_bytes(831488), "812KiB");
  EXPECT_EQ(format_bytes(1288490188), "1.2GiB");
  EXPECT_EQ(format_bytes(2147483648), "2GiB");
}

// -- colour, errors, JSON
// ----------------------------------------------------------------

TEST(cli_colour, paint_only_when_enabled) {
  EXPECT_EQ(paint("x", sgr::red, false), "x");
  EXPECT_EQ(paint("x", sgr::none, true), "x");
  EXPECT_EQ(paint("x", sgr::red, true), "\x1b[31mx\x1b[0m");
}

TEST(cli_colour, no_color_disables_it) {
  ::setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(colour_enabled(1));
  ::unsetenv("NO_COLOR");
}

TEST(cli_colour, states_have_styles) {
  EXPECT_EQ(state_style("running"), sgr::green);
  EXPECT_EQ(state_style("error"), sgr::red);
  EXPECT_EQ(state_style("stopped"), sgr::dim);
  EXPECT_EQ(state_style("starting"), sgr::yellow);
}

TEST(cli_error, message_with_and_without_op) {
  EXPECT_EQ(format_error({"not_found", "no VM named 'x'", ""}, false),
            "banger: no VM named 'x'\n");
  EXPECT_EQ(format_error({"not_found", "no VM named 'x'", "op-7"}, false),
            "banger: no VM named 'x' (op op-7)\n");
  EXPECT_EQ(format_error({"not_found", "boom", "op-7"}, true),
            "banger: boom\x1b[2m (op op-7)\x1b[0m\n");
}

TEST(cli_json, prints_the_body_pretty_in_the_order_sent) {
  // Written by hand so that keys are deliberately not sorted.
  std::string payload =
      R"({"v":1,"id":3,"type":"result","body":{"version":"0.1.0","pid":42,"accel":"kvm"}})";
  EXPECT_EQ(json_output(payload), "{\n"
                                  "  \"version\": \"0.1.0\",\n"
                                  "  \"pid\": 42,\n"
                                  "  \"accel\": \"kvm\"\n"
                                  "}\n");
}

TEST(cli_json, lists_keep_their_shape) {
  wire::envelope env;
  env.id = 1;
  env.type = "result";
  env.body = {{"vms", wire::json::array()}};
  EXPECT_EQ(json_output(payload_of(env)), "{\n  \"vms\": []\n}\n");
}

TEST(cli_json, keeps_utf8_as_is) {
  std::string payload =
      R"({"v":1,"id":1,"type":"result","body":{"name":"größe"}})";
  EXPECT_EQ(json_output(payload), "{\n  \"name\": \"größe\"\n}\n");
}

} // namespace

TEST(ShellQuote, ASheetOfAwkwardArgumentsSurvivesARealShell) {
  std::vector<std::string> args{"printf", "[%s]\\n", "", "a b", "it's", "$HOME",
                                "`id`", "\"q\"", "back\\slash", "semi;colon",
                                "new\nline", "*"};
  auto quoted = banger::cli::shell_quote(args);
  auto r = banger::run({"sh", "-c", quoted});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "[]\n[a b]\n[it's]\n[$HOME]\n[`id`]\n[\"q\"]\n[back\\slash]\n"
                    "[semi;colon]\n[new\nline]\n[*]\n");
}

TEST(ShellQuote, EmptyArgumentStaysAnArgument) {
  EXPECT_EQ(banger::cli::shell_quote({"a", ""}), "'a' ''");
  EXPECT_EQ(banger::cli::shell_quote({"it's"}), "'it'\\''s'");
}

TEST(cli_session, state_text_says_how_it_ended) {
  session_info s;
  s.state = "running";
  EXPECT_EQ(session_state_text(s), "running");
  s.state = "exited";
  s.exit_code = 3;
  EXPECT_EQ(session_state_text(s), "exited 3");
  s.signal = 15;
  s.exit_code = 143;
  EXPECT_EQ(session_state_text(s), "killed by SIGTERM");
}

TEST(cli_session, detach_keys_are_found_across_reads_and_never_forwarded) {
  detach_keys k;
  EXPECT_EQ(k.feed("ab\x10"), "ab"); // a Ctrl-P waits for the next byte
  EXPECT_FALSE(k.detached());
  EXPECT_EQ(k.feed("c"), "\x10" "c"); // not the sequence: both go on
  EXPECT_EQ(k.feed("\x10\x10"), "\x10");
  EXPECT_EQ(k.feed("\x11rest"), "");
  EXPECT_TRUE(k.detached());
  EXPECT_EQ(k.feed("more"), "");

  detach_keys lone;
  EXPECT_EQ(lone.feed("\x11q"), "\x11q"); // Ctrl-Q alone is just a byte
  EXPECT_FALSE(lone.detached());
}
