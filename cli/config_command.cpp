// banger config show: the settings bangerd would use and where each comes
// from (services/settings_report).
#include <map>
#include <memory>

#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "services/error.hpp"
#include "services/paths.hpp"
#include "services/settings_report.hpp"

namespace banger::cli {

namespace {

struct config_opts {
  bool json = false;
  std::string file;
  std::map<std::string, std::string> flags; // filled from `given`
};

int do_show(const config_opts& o) {
  auto path = o.file.empty() ? resolve_paths().config_file() : o.file;
  auto report = explain_settings(path, o.flags);
  if (!report)
    fail(error_message(report.error()));
  if (o.json) {
    auto arr = wire::json::array();
    for (auto& e : report->entries)
      arr.push_back({{"key", e.key},
                     {"value", e.value},
                     {"origin", e.origin},
                     {"where", e.where}});
    wire::json out{{"file", report->file},
                   {"file_exists", report->file_exists},
                   {"settings", arr}};
    print(out.dump(2) + "\n");
    return exit_ok;
  }
  print(fmt::format("config file: {}{}\n", report->file,
                    report->file_exists ? "" : " (not found: defaults apply)"));
  table t({"KEY", "VALUE", "FROM"});
  for (auto& e : report->entries)
    t.add_row({{e.key},
               {setting_text(e.value)},
               {e.origin == "default" ? std::string{"default"}
                : e.origin == "flag"  ? "flag " + e.where
                                      : e.where,
                e.origin == "default" ? sgr::dim : sgr::none}});
  print(t.render(colour_enabled(STDOUT_FILENO)));
  return exit_ok;
}

} // namespace

void add_config_command(CLI::App& app, action& selected) {
  auto* config = app.add_subcommand("config", "Inspect banger's settings");
  config->require_subcommand(1);
  auto* show = config->add_subcommand(
      "show", "Print the settings bangerd would use and where each comes from");
  auto o = std::make_shared<config_opts>();
  show->add_flag("--json", o->json, "Print them as JSON");
  show->add_option("--file", o->file,
                   "Read this config.toml instead of the daemon's");
  auto given = std::make_shared<std::map<std::string, std::string>>();
  for (auto& flag : setting_flags())
    show->add_option(flag, (*given)[flag],
                     "As given to banger daemon start / bangerd: shows the "
                     "effect of "
                         + flag);
  show->footer(
      "The file is $XDG_CONFIG_HOME/banger/config.toml "
      "(/etc/banger/config.toml\n"
      "for a system install). FROM is \"default\", the file and line that set\n"
      "the value, or the flag. A file bangerd would refuse (unknown key, bad\n"
      "value) is refused here too, with its line: exit 1.");
  show->callback([o, given, show, &selected] {
    o->flags.clear();
    for (auto& [flag, value] : *given)
      if (show->count(flag) > 0)
        o->flags[flag] = value;
    selected = {[o] { return do_show(*o); }};
  });
}

} // namespace banger::cli
