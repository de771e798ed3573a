#include "services/pause_point.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include "services/log.hpp"

namespace banger {

void pause_point(std::string_view stage) {
  static const std::string wanted = [] {
    const char* v = std::getenv("BANGER_PAUSE_AT");
    return std::string{v ? v : ""};
  }();
  if (wanted.empty() || wanted != stage)
    return;
  log::warn("pause",
            "pause point {} reached ($BANGER_PAUSE_AT); blocking until killed",
            stage);
  if (const char* file = std::getenv("BANGER_PAUSE_FILE"); file && *file) {
    std::ofstream out{file, std::ios::app};
    out << "paused " << stage << " " << ::getpid() << std::endl;
  }
  for (;;)
    ::pause();
}

} // namespace banger
