#include "cli/progress.hpp"

#include <chrono>
#include <cstdlib>
#include <string_view>

#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/render.hpp"
#include "messages/wire.hpp"

namespace banger::cli {

namespace {

constexpr std::string_view unicode_frames[] = {"⠋", "⠙", "⠹", "⠸", "⠼",
                                               "⠴", "⠦", "⠧", "⠇", "⠏"};
constexpr std::string_view ascii_frames[] = {"|", "/", "-", "\\"};

bool utf8_locale() {
  for (const char* var : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && v[0] != '\0') {
      std::string_view s(v);
      return s.find("UTF-8") != s.npos || s.find("utf8") != s.npos
             || s.find("utf-8") != s.npos || s.find("UTF8") != s.npos;
    }
  }
  return false;
}

std::size_t terminal_columns(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

// Cuts `text` to at most `cols` code points.
std::string fit(const std::string& text, std::size_t cols) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80 && n++ == cols)
      return text.substr(0, i);
  }
  return text;
}

std::string fmt_percent(std::uint64_t done, std::uint64_t total) {
  return " " + std::to_string(done * 100 / total) + "%";
}

double seconds_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

} // namespace

progress_display::progress_display(int fd, when_not_tty mode) : fd_(fd) {
  active_ = ::isatty(fd) == 1;
  lines_ = !active_ && mode == when_not_tty::lines;
  colour_ = colour_enabled(fd);
  unicode_ = utf8_locale();
}

progress_display::~progress_display() {
  clear();
}

void progress_display::update(const progress_event& ev) {
  if (ev.stage != stage_) {
    stage_ = ev.stage;
    stage_start_ = seconds_now();
    quarter_ = -1;
  }
  if (lines_) {
    plain_line(ev);
    return;
  }
  if (!active_)
    return;
  // Stages and messages may quote the daemon or a guest: no escapes of
  // theirs reach the terminal.
  auto stage = terminal_safe(ev.stage);
  auto message = terminal_safe(ev.message);
  text_ = message.empty() ? stage : stage + ": " + message;
  if (ev.total > 0) {
    auto fraction = static_cast<double>(ev.done) / static_cast<double>(ev.total);
    text_ = stage + " " + progress_bar(fraction, 20, unicode_) + " "
            + format_transfer(ev.done, ev.total, seconds_now() - stage_start_)
            + (message.empty() ? "" : "  " + message);
  }
  draw();
}

void progress_display::plain_line(const progress_event& ev) {
  // One line when a stage starts, then one per quarter of a measured stage.
  int quarter = ev.total > 0 ? static_cast<int>(ev.done * 4 / ev.total) : 0;
  if (quarter == quarter_)
    return;
  bool first = quarter_ < 0;
  quarter_ = quarter;
  std::string line = terminal_safe(ev.stage);
  if (ev.total > 0 && !(first && ev.done == 0))
    line += fmt_percent(ev.done, ev.total) + " "
            + format_transfer(ev.done, ev.total, seconds_now() - stage_start_);
  else if (!ev.message.empty())
    line += ": " + terminal_safe(ev.message);
  wire::write_all(fd_, line + "\n");
}

void progress_display::tick() {
  if (!active_ || text_.empty())
    return;
  ++frame_;
  draw();
}

void progress_display::clear() {
  if (!drawn_)
    return;
  wire::write_all(fd_, "\r\x1b[2K");
  drawn_ = false;
}

void progress_display::stop() {
  clear();
  active_ = false;
  lines_ = false;
}

void progress_display::draw() {
  std::string_view spin =
      unicode_ ? unicode_frames[frame_ % std::size(unicode_frames)]
               : ascii_frames[frame_ % std::size(ascii_frames)];
  // Never wrap: a wrapped line cannot be erased with \r.
  auto cols = terminal_columns(fd_);
  auto line = fit(text_, cols > 3 ? cols - 3 : 0);
  wire::write_all(fd_,
                  "\r\x1b[2K" + paint(spin, sgr::yellow, colour_) + " " + line);
  drawn_ = true;
}

} // namespace banger::cli
