#include "guest/init/cmdline.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace banger::init {

std::vector<std::string> split_cmdline(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, have = false;
  for (char c : text) {
    if (c == '"') {
      quoted = !quoted;
      have = true;
    } else if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      if (have)
        out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have)
    out.push_back(cur);
  return out;
}

boot_params parse_cmdline(std::string_view text) {
  boot_params p;
  for (auto& word : split_cmdline(text)) {
    auto eq = word.find('=');
    if (eq == std::string::npos) {
      if (word == "rw")
        p.read_only = false;
      else if (word == "ro")
        p.read_only = true;
      continue;
    }
    auto key = word.substr(0, eq);
    auto value = word.substr(eq + 1);
    if (key == "root")
      p.root = value;
    else if (key == "rootfstype")
      p.rootfstype = value;
    else if (key == "rootflags")
      p.rootflags = value;
    else if (key == "banger.hostname")
      p.hostname = value;
    else if (key == "banger.init")
      p.init = value;
    else if (key == "banger.agent")
      p.start_agent = value != "0" && value != "off" && value != "no";
    else if (key == "banger.work")
      p.work = value;
    else if (key == "banger.rootwait")
      p.rootwait_s = std::atoi(value.c_str());
    else if (key == "banger.ip")
      p.ip = value;
    else if (key == "banger.gw")
      p.gw = value;
    else if (key == "banger.mac")
      p.mac = value;
    else if (key == "banger.dns")
      for (std::size_t start = 0; start <= value.size();) {
        auto comma = std::min(value.find(',', start), value.size());
        if (comma > start)
          p.dns.push_back(value.substr(start, comma - start));
        start = comma + 1;
      }
    else
      p.other[key] = value;
  }
  return p;
}

} // namespace banger::init
