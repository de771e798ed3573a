#pragma once
// A fresh directory under $TMPDIR for one unit test, removed with everything
// in it when the test ends.

#include <cstdlib>
#include <filesystem>
#include <string>

namespace banger::test {

class temp_dir {
public:
  explicit temp_dir(const std::string& prefix = "banger-test") {
    std::string tmpl =
      (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) != nullptr)
      path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path_.empty())
      std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

} // namespace banger::test
