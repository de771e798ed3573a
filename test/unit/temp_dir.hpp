#pragma once
// A fresh directory under $TMPDIR for one unit test, removed with everything
// in it when the test ends (remove_tree: a test may leave a tree too deep for
// std::filesystem::remove_all).

#include <cstdlib>
#include <filesystem>
#include <string>

#include "services/staging.hpp"

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
    if (!path_.empty())
      (void)banger::remove_tree(path_);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

} // namespace banger::test
