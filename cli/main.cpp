// banger: the command-line client of bangerd.
#include <cerrno>
#include <exception>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/render.hpp"

namespace banger::cli {

namespace {

constexpr const char* main_footer = R"(Examples:
  banger daemon start                      start bangerd in the background
  banger vm run --rm -- uname -a           boot, run one command, throw the VM away
  banger vm create --name box              a VM that keeps running
  banger vm exec box -- cat /etc/os-release
  banger vm list
  banger vm delete -f box
  banger image import debian --rootfs ./debian.ext4
  sudo banger system install               bangerd + banger-helper as systemd services

Exit codes:
  0    success
  1    banger failed (daemon not running, daemon error, bad reply)
  2    usage error (unknown command or flag, missing argument)
  vm run / vm exec: the command's own exit code, 128+N if signal N killed it,
  125 if banger itself failed.

Colour is off when NO_COLOR is set or the output is not a terminal. Each
command has its own --help.)";

// With fd 0, 1 or 2 closed, the daemon socket would take its number and
// banger would read "stdin" from, or print output into, the socket.
void ensure_std_fds() {
  for (int fd = 0; fd < 3; ++fd)
    if (::fcntl(fd, F_GETFD) == -1 && errno == EBADF)
      ::open("/dev/null",
             fd == 0 ? O_RDONLY : O_WRONLY); // takes the lowest free fd: `fd`
}

// One line, so that scripts can show the error as is.
std::string failure_message(const CLI::App*, const CLI::Error& e) {
  std::string what = e.what();
  for (auto& c : what)
    if (c == '\n')
      c = ' ';
  return "banger: " + what + " (see --help)\n";
}

} // namespace

int main(int argc, char** argv) {
  ensure_std_fds();
  CLI::App app{
      "banger: disposable Linux microVMs, managed by the bangerd daemon",
      "banger"};
  app.require_subcommand(1);
  app.footer(main_footer);
  app.failure_message(failure_message);
  app.set_version_flag("--version", "banger " BANGER_VERSION,
                       "Print banger's version");
  app.get_formatter()->column_width(34);

  action selected;
  add_vm_commands(app, selected);
  add_image_commands(app, selected);
  add_daemon_commands(app, selected);
  add_ssh_commands(app, selected);
  add_doctor_command(app, selected);
  add_system_commands(app, selected);
  add_config_command(app, selected);
  app.add_subcommand("version", "Print banger's version")
      ->callback([&selected] {
        selected = {[] {
          print("banger " BANGER_VERSION "\n");
          return exit_ok;
        }};
      });

  note_command_line(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0.
    int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }
  if (!selected.run)
    return exit_usage;

  bool colour = colour_enabled(STDERR_FILENO);
  auto report = [&](const error_body& err) {
    wire::write_all(STDERR_FILENO, format_error(err, colour));
    return selected.failure_code;
  };
  try {
    return selected.run();
  } catch (const command_error& e) {
    return report(e.err);
  } catch (const std::exception& e) {
    return report({"", e.what(), ""});
  }
}

} // namespace banger::cli

int main(int argc, char** argv) {
  return banger::cli::main(argc, argv);
}
