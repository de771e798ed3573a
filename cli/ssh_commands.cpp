// banger ssh-config [--install|--uninstall|--print]
#include <cstdlib>
#include <memory>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "services/error.hpp"
#include "services/paths.hpp"
#include "services/ssh_config.hpp"

namespace banger::cli {

namespace {

enum class ssh_mode { show, install, uninstall, print };

std::string home_or_fail() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] != '/')
    fail("HOME is not set to an absolute path; set it to your home directory");
  return home;
}

template <class T> T value_or_fail(caf::expected<T> r) {
  if (!r)
    fail(error_message(r.error()));
  return *r;
}

int do_show(const paths& p, const std::string& home) {
  auto user_config = user_ssh_config_path(home);
  print(key_values({
      {"ssh config", ssh_config_path(p)},
      {"key", ssh_key_path(p)},
      {"known_hosts", known_hosts_path(p)},
      {"installed", include_installed(home, p)
                        ? "yes (included by " + user_config + ")"
                        : "no; run: banger ssh-config --install"},
  }));
  return exit_ok;
}

int do_install(const paths& p, const std::string& home) {
  value_or_fail(ensure_user_key(p));
  value_or_fail(ensure_ssh_config(p));
  auto user_config = user_ssh_config_path(home);
  if (value_or_fail(install_include(home, p)))
    print("added Include " + ssh_config_path(p) + " at the top of "
          + user_config + "; `ssh <name>.vm` now uses banger's key\n");
  else
    print(user_config + " already includes " + ssh_config_path(p)
          + "; nothing changed\n");
  return exit_ok;
}

int do_uninstall(const std::string& home) {
  auto user_config = user_ssh_config_path(home);
  if (value_or_fail(uninstall_include(home)))
    print("removed banger's Include from " + user_config + "\n");
  else
    print(user_config + " has no Include added by banger; nothing changed\n");
  return exit_ok;
}

int do_ssh_config(ssh_mode mode) {
  auto p = resolve_paths();
  switch (mode) {
  case ssh_mode::print:
    print(ssh_config_text(p));
    return exit_ok;
  case ssh_mode::install:
    return do_install(p, home_or_fail());
  case ssh_mode::uninstall:
    return do_uninstall(home_or_fail());
  case ssh_mode::show:
    break;
  }
  return do_show(p, home_or_fail());
}

} // namespace

void add_ssh_commands(CLI::App& app, action& selected) {
  struct flags {
    bool install = false;
    bool uninstall = false;
    bool print = false;
  };
  auto f = std::make_shared<flags>();
  auto* cmd = app.add_subcommand(
      "ssh-config", "Show, install or remove banger's ssh config for *.vm");
  auto* install = cmd->add_flag(
      "--install", f->install,
      "Add one Include line for banger's config at the top of ~/.ssh/config");
  auto* uninstall = cmd->add_flag(
      "--uninstall", f->uninstall,
      "Remove the Include line --install added, and nothing else");
  auto* print_flag =
      cmd->add_flag("--print", f->print, "Print banger's ssh config for *.vm");
  install->excludes(uninstall)->excludes(print_flag);
  uninstall->excludes(print_flag);
  cmd->footer(
      "Without a flag: where banger's ssh config, key and known_hosts are, "
      "and\n"
      "whether ~/.ssh/config includes it. --install creates the key and "
      "config\n"
      "first; running it again changes nothing. The rest of ~/.ssh/config is\n"
      "kept byte for byte.\n\nExample:\n  banger ssh-config --install && ssh "
      "box.vm");
  cmd->callback([f, &selected] {
    auto mode = f->install     ? ssh_mode::install
                : f->uninstall ? ssh_mode::uninstall
                : f->print     ? ssh_mode::print
                               : ssh_mode::show;
    selected = {[mode] { return do_ssh_config(mode); }};
  });
}

} // namespace banger::cli
