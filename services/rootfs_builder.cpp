#include "services/rootfs_builder.hpp"

#include <algorithm>
#include <utility>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "services/error.hpp"
#include "services/process.hpp"
#include "services/unique_fd.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

enum class kind { file, dir, symlink, chr, blk, fifo };

// What an ext4 inode gets; hardlinked paths share one.
struct inode {
  kind type = kind::file;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t perm = 0755; // permission bits incl. setuid/setgid/sticky
  std::int64_t mtime = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::string target; // symlink target, stored as-is, never followed
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint64_t size = 0;
  std::string blob; // content under work_dir/blobs; empty for no content
  // Filled while staging.
  std::string image_path; // the first path written for this inode
  std::string staged;     // its host path in the staging tree
  std::uint32_t links = 0;
  std::vector<std::string> host_xattrs; // what the host put on the staged copy

  ~inode() {
    if (!blob.empty())
      ::unlink(blob.c_str()); // replaced or deleted by a later layer
  }
};

struct node {
  std::shared_ptr<inode> ino;
  std::map<std::string, std::unique_ptr<node>> children;
  std::size_t layer = 0; // the layer that last declared (or implied) it
};

std::uint32_t type_bits(kind k) {
  switch (k) {
    case kind::file: return 0100000;
    case kind::dir: return 0040000;
    case kind::symlink: return 0120000;
    case kind::chr: return 0020000;
    case kind::blk: return 0060000;
    case kind::fifo: return 0010000;
  }
  return 0;
}

std::string quote(const std::string& s) {
  // debugfs (libss) takes "..." as one argument and "" inside as a quote.
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += "\"\"";
    else
      out += c;
  }
  return out + "\"";
}

std::string octal(std::uint32_t v) {
  std::ostringstream os;
  os << '0' << std::oct << v;
  return os.str();
}

// libarchive may fail without a message (archive_error_string is then
// NULL, which must never reach a std::string).
std::string archive_error_text(struct archive* ar) {
  const char* why = archive_error_string(ar);
  return why != nullptr ? why : "unknown error (libarchive gave no reason)";
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// Everything under work_dir is ours alone (0600), like the staging tree.
caf::expected<void> write_private(const std::string& path, const std::string& data) {
  unique_fd fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (!fd.valid())
    return make_error(ec::internal, "cannot create " + path + ": " + errno_text(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return make_error(ec::internal, "cannot write " + path + ": " + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
  return {};
}

class builder {
public:
  builder(const rootfs_options& opts) : opts_(opts) {
    root_.ino = std::make_shared<inode>();
    root_.ino->type = kind::dir;
    root_.ino->perm = 0755;
  }

  caf::expected<rootfs_result> run(const std::vector<layer_source>& layers);
  /// run() without mke2fs and debugfs: reads the layers and stages the tree.
  caf::expected<std::uint64_t> stage_only(const std::vector<layer_source>& layers);

private:
  caf::error cancelled() const {
    return make_error(ec::cancelled, "building the root filesystem " + opts_.output
                                       + " was cancelled");
  }
  bool is_cancelled() const {
    return opts_.cancel != nullptr && opts_.cancel->load();
  }

  std::string layer_name() const {
    return "layer " + std::to_string(layer_index_ + 1) + " (" + layer_path_ + ")";
  }

  caf::error entry_error(const std::string& entry, const std::string& what) const {
    return make_error(ec::invalid_argument,
                      layer_name() + ": entry '" + shorten(entry) + "' " + what
                        + "; the image is unsafe or corrupt, banger refuses it");
  }

  caf::error limit_error(const std::string& what) const {
    return make_error(ec::invalid_argument,
                      layer_name() + " " + what
                        + "; banger refuses the image (a decompression bomb or "
                          "a broken image), pull another one");
  }

  // An entry name may be 130 KB long; an error message shows its start.
  static std::string shorten(const std::string& s) {
    return s.size() <= 200 ? s : s.substr(0, 200) + "...";
  }

  caf::expected<std::vector<std::string>> split(const std::string& entry,
                                                const std::string& path) const;
  /// The directory comps[0..n) names, through symlinks; nullptr if it does
  /// not exist and create is false.
  caf::expected<node*> resolve_dir(const std::string& entry,
                                   const std::vector<std::string>& comps, std::size_t n,
                                   bool create);
  void prune(node& dir);
  caf::expected<void> read_layer(const layer_source& layer);
  caf::expected<void> apply(struct archive* ar, struct archive_entry* e);
  caf::expected<void> read_data(struct archive* ar, inode& ino, const std::string& entry);
  caf::expected<void> stage(node& dir, int dirfd, const std::string& host_dir,
                            const std::string& image_dir);
  void note_host_xattrs(const std::string& host, inode& ino);
  caf::expected<void> read_layers(const std::vector<layer_source>& layers);
  /// Writes the tree under `top` to work_dir/<tag>; returns that path.
  caf::expected<std::string> stage_tree(node& top, const std::string& tag);
  caf::expected<void> emit_meta(const std::string& target, const inode& ino);
  caf::expected<std::unordered_map<std::string, std::uint32_t>>
  inode_numbers(const std::string& image, const std::string& tag);
  /// Writes the tree under `top` as the ext4 file `output` (through
  /// <output>.tmp), staged in work_dir/<tag>; returns its size. size_bytes
  /// 0: the content plus headroom, at least min_bytes.
  caf::expected<std::uint64_t> write_image(node& top, const std::string& tag,
                                           const std::string& output,
                                           const std::string& label,
                                           std::uint64_t size_bytes,
                                           std::uint64_t min_bytes);

  const rootfs_options& opts_;
  node root_;
  // Content bytes and entries read so far, over all layers, and the bytes
  // the free space allows.
  std::uint64_t read_bytes_ = 0;
  std::uint64_t entries_ = 0;
  std::uint64_t space_budget_ = 0;
  std::size_t layer_index_ = 0;
  std::string layer_path_;
  std::uint64_t blob_counter_ = 0;
  std::string blobs_dir_;
  std::string xattr_dir_;
  // The debugfs script: creations first, then metadata.
  std::string create_cmds_;
  std::string meta_cmds_;
  std::vector<std::shared_ptr<inode>> node_inodes_; // devices/fifos with links
  std::uint64_t paths_ = 0;
  std::uint64_t content_bytes_ = 0;
  std::uint64_t xattr_counter_ = 0;
  // Each inode's first path, and every directory, in staging order.
  std::vector<std::pair<std::string, std::shared_ptr<inode>>> metas_;
  std::vector<std::string> dirs_{"/"};
};

caf::expected<std::vector<std::string>>
builder::split(const std::string& entry, const std::string& path) const {
  std::vector<std::string> comps;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string::npos)
      j = path.size();
    auto c = path.substr(i, j - i);
    i = j + 1;
    if (c.empty() || c == ".")
      continue;
    if (c == "..") {
      if (comps.empty())
        return entry_error(entry, "climbs above the root");
      comps.pop_back();
      continue;
    }
    if (c.find('\n') != std::string::npos)
      return entry_error(entry, "has a newline in its name, which banger cannot write");
    comps.push_back(std::move(c));
    if (comps.size() > opts_.limits.max_depth)
      return entry_error(entry, "lies deeper than " + std::to_string(opts_.limits.max_depth)
                                  + " directories");
  }
  return comps;
}

caf::expected<node*> builder::resolve_dir(const std::string& entry,
                                          const std::vector<std::string>& comps,
                                          std::size_t n, bool create) {
  // Like containerd's fs.RootPath: a symlink met on the way is followed
  // inside the model as the guest would, an absolute target starts again at
  // the image's root and ".." stops at it. Nothing on the host is followed.
  std::vector<node*> stack{&root_};
  std::deque<std::string> todo(comps.begin(), comps.begin() + static_cast<std::ptrdiff_t>(n));
  int hops = 0;
  while (!todo.empty()) {
    auto c = std::move(todo.front());
    todo.pop_front();
    if (c.empty() || c == ".")
      continue;
    if (c == "..") {
      if (stack.size() > 1)
        stack.pop_back();
      continue;
    }
    auto& slot = stack.back()->children[c];
    if (slot && slot->ino->type == kind::symlink) {
      if (++hops > 40)
        return entry_error(entry, "lies under a loop of symlinks");
      const auto& t = slot->ino->target;
      if (!t.empty() && t.front() == '/')
        stack.resize(1);
      std::vector<std::string> parts;
      for (std::size_t i = 0; i <= t.size();) {
        auto j = t.find('/', i);
        if (j == std::string::npos)
          j = t.size();
        parts.push_back(t.substr(i, j - i));
        i = j + 1;
      }
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (!slot || slot->ino->type != kind::dir) {
      if (!create) {
        if (!slot)
          stack.back()->children.erase(c);
        return nullptr;
      }
      // Missing (or a non-directory in the way): an implied directory.
      slot = std::make_unique<node>();
      slot->ino = std::make_shared<inode>();
      slot->ino->type = kind::dir;
      slot->ino->perm = 0755;
      slot->layer = layer_index_;
    }
    stack.push_back(slot.get());
    // Symlinks can make a short name deep.
    if (stack.size() > opts_.limits.max_depth)
      return entry_error(entry, "lies deeper than " + std::to_string(opts_.limits.max_depth)
                                  + " directories (through symlinks)");
  }
  return stack.back();
}

void builder::prune(node& top) {
  // An explicit stack: the walk's depth is the image's, not the thread's.
  std::vector<node*> todo{&top};
  while (!todo.empty()) {
    auto* dir = todo.back();
    todo.pop_back();
    for (auto it = dir->children.begin(); it != dir->children.end();) {
      if (it->second->layer < layer_index_) {
        it = dir->children.erase(it);
        continue;
      }
      if (it->second->ino->type == kind::dir)
        todo.push_back(it->second.get());
      ++it;
    }
  }
}

caf::expected<void> builder::read_data(struct archive* ar, inode& ino,
                                       const std::string& entry) {
  auto path = blobs_dir_ + "/" + std::to_string(blob_counter_++);
  unique_fd fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (!fd.valid())
    return make_error(ec::internal, "cannot create " + path + ": " + errno_text(errno));
  ino.blob = path;
  const void* buf = nullptr;
  std::size_t len = 0;
  la_int64_t off = 0;
  for (;;) {
    auto r = archive_read_data_block(ar, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return entry_error(entry, "cannot be read: " + archive_error_text(ar));
    if (is_cancelled())
      return cancelled();
    auto p = static_cast<const char*>(buf);
    while (len > 0) {
      auto n = ::pwrite(fd.get(), p, len, off);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        return make_error(ec::internal, "cannot write " + path + ": " + errno_text(errno));
      }
      p += n;
      len -= static_cast<std::size_t>(n);
      off += n;
    }
  }
  // A sparse file may end in a hole that the blocks above do not cover.
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0)
    return make_error(ec::internal, "cannot stat " + path + ": " + errno_text(errno));
  auto written = static_cast<std::uint64_t>(st.st_size);
  if (ino.size > written && ::ftruncate(fd.get(), static_cast<off_t>(ino.size)) != 0)
    return make_error(ec::internal, "cannot size " + path + ": " + errno_text(errno));
  ino.size = std::max(ino.size, written);
  return {};
}

caf::expected<void> builder::apply(struct archive* ar, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr)
    return make_error(ec::invalid_argument, "layer " + std::to_string(layer_index_ + 1) + " ("
                                              + layer_path_ + ") has an entry without a name");
  std::string entry = raw;
  if (++entries_ > opts_.limits.max_entries)
    return limit_error("brings the image to more than "
                       + std::to_string(opts_.limits.max_entries) + " entries");
  if (entry.size() > opts_.limits.max_path)
    return entry_error(entry, "has a name of " + std::to_string(entry.size())
                                + " bytes, longer than the limit of "
                                + std::to_string(opts_.limits.max_path));
  for (const char* other : {archive_entry_hardlink(e), archive_entry_symlink(e)})
    if (other != nullptr && std::strlen(other) > opts_.limits.max_path)
      return entry_error(entry, "links to a name longer than "
                                  + std::to_string(opts_.limits.max_path) + " bytes");
  auto comps = split(entry, entry);
  if (!comps)
    return comps.error();
  const char* link = archive_entry_hardlink(e);
  auto ftype = archive_entry_filetype(e);
  if (comps->empty()) {
    // "./": the root directory's own metadata.
    if (link != nullptr || ftype != AE_IFDIR)
      return entry_error(entry, "replaces the root directory with a non-directory");
    auto& r = *root_.ino;
    r.uid = static_cast<std::uint32_t>(archive_entry_uid(e));
    r.gid = static_cast<std::uint32_t>(archive_entry_gid(e));
    r.perm = archive_entry_perm(e) & 07777;
    r.mtime = archive_entry_mtime(e);
    r.xattrs.clear();
    archive_entry_xattr_reset(e);
    const char* xname = nullptr;
    const void* xval = nullptr;
    std::size_t xsize = 0;
    while (archive_entry_xattr_next(e, &xname, &xval, &xsize) == ARCHIVE_OK)
      r.xattrs.emplace_back(xname, std::string{static_cast<const char*>(xval), xsize});
    return {};
  }
  auto name = comps->back();
  if (name == ".wh..wh..opq") {
    // Opaque: hides what lower layers had in this directory.
    auto parent = resolve_dir(entry, *comps, comps->size() - 1, true);
    if (!parent)
      return parent.error();
    prune(**parent);
    return {};
  }
  if (name.rfind(".wh.", 0) == 0) {
    auto hidden = name.substr(4);
    auto parent = resolve_dir(entry, *comps, comps->size() - 1, false);
    if (!parent)
      return parent.error();
    if (*parent != nullptr)
      (*parent)->children.erase(hidden);
    return {};
  }
  auto parent = resolve_dir(entry, *comps, comps->size() - 1, true);
  if (!parent)
    return parent.error();
  if (link != nullptr) {
    std::string target = link;
    auto tcomps = split(entry, target);
    if (!tcomps)
      return entry_error(entry, "is a hardlink to '" + target + "', outside the image");
    if (tcomps->empty())
      return entry_error(entry, "is a hardlink to the root directory");
    // The link's own name is not followed: a hardlink to a symlink is one.
    auto tdir = resolve_dir(entry, *tcomps, tcomps->size() - 1, false);
    if (!tdir)
      return tdir.error();
    node* t = nullptr;
    if (*tdir != nullptr) {
      auto it = (*tdir)->children.find(tcomps->back());
      if (it != (*tdir)->children.end())
        t = it->second.get();
    }
    if (t == nullptr)
      return entry_error(entry, "is a hardlink to '" + target + "', which does not exist");
    if (t->ino->type == kind::dir)
      return entry_error(entry, "is a hardlink to the directory '" + target + "'");
    auto ino = t->ino; // before replacing the slot, which may be the target
    auto& slot = (*parent)->children[name];
    slot = std::make_unique<node>();
    slot->ino = std::move(ino);
    slot->layer = layer_index_;
    return {};
  }
  auto ino = std::make_shared<inode>();
  switch (ftype) {
    case AE_IFREG: ino->type = kind::file; break;
    case AE_IFDIR: ino->type = kind::dir; break;
    case AE_IFLNK: ino->type = kind::symlink; break;
    case AE_IFCHR: ino->type = kind::chr; break;
    case AE_IFBLK: ino->type = kind::blk; break;
    case AE_IFIFO: ino->type = kind::fifo; break;
    default:
      return entry_error(entry, "has a file type banger cannot store (" + octal(ftype) + ")");
  }
  ino->uid = static_cast<std::uint32_t>(archive_entry_uid(e));
  ino->gid = static_cast<std::uint32_t>(archive_entry_gid(e));
  ino->perm = archive_entry_perm(e) & 07777;
  ino->mtime = archive_entry_mtime(e);
  ino->major = static_cast<std::uint32_t>(archive_entry_rdevmajor(e));
  ino->minor = static_cast<std::uint32_t>(archive_entry_rdevminor(e));
  if (ino->type == kind::symlink) {
    const char* t = archive_entry_symlink(e);
    ino->target = t != nullptr ? t : "";
    if (ino->target.empty())
      return entry_error(entry, "is a symlink without a target");
  }
  archive_entry_xattr_reset(e);
  const char* xname = nullptr;
  const void* xval = nullptr;
  std::size_t xsize = 0;
  while (archive_entry_xattr_next(e, &xname, &xval, &xsize) == ARCHIVE_OK) {
    std::string n = xname;
    if (n.find('\n') != std::string::npos)
      return entry_error(entry, "has an xattr name with a newline");
    ino->xattrs.emplace_back(std::move(n),
                             std::string{static_cast<const char*>(xval), xsize});
  }
  auto& slot = (*parent)->children[name];
  if (ino->type == kind::dir && slot && slot->ino->type == kind::dir) {
    // A directory declared again keeps its children; its metadata changes.
    slot->ino = std::move(ino);
    slot->layer = layer_index_;
    return {};
  }
  if (ino->type == kind::file) {
    if (archive_entry_size_is_set(e) != 0 && archive_entry_size(e) > 0)
      ino->size = static_cast<std::uint64_t>(archive_entry_size(e));
    // Checked from the header, before a byte of it is written.
    read_bytes_ += ino->size;
    if (read_bytes_ > opts_.limits.max_bytes)
      return limit_error("expands to more than " + std::to_string(opts_.limits.max_bytes)
                         + " bytes of content (at entry '" + shorten(entry) + "')");
    if (read_bytes_ > space_budget_)
      return make_error(ec::unavailable,
                        layer_name() + " expands to more than the "
                          + std::to_string(space_budget_) + " bytes of content that "
                          + opts_.work_dir + " has room for (at entry '" + shorten(entry)
                          + "'; the image file needs as much again); free some space "
                            "there and retry");
    if (auto r = read_data(ar, *ino, entry); !r)
      return r.error();
  }
  slot = std::make_unique<node>();
  slot->ino = std::move(ino);
  slot->layer = layer_index_;
  return {};
}

caf::expected<void> builder::read_layer(const layer_source& layer) {
  std::unique_ptr<struct archive, decltype(&archive_read_free)> ar{archive_read_new(),
                                                                   &archive_read_free};
  switch (layer.compression) {
    case layer_compression::none: break;
    case layer_compression::gzip: archive_read_support_filter_gzip(ar.get()); break;
    case layer_compression::zstd: archive_read_support_filter_zstd(ar.get()); break;
  }
  archive_read_support_format_tar(ar.get());
  if (archive_read_open_filename(ar.get(), layer.path.c_str(), 64 * 1024) != ARCHIVE_OK)
    return make_error(ec::invalid_argument, "cannot read layer " + layer.path + ": "
                                              + archive_error_text(ar.get()));
  struct archive_entry* e = nullptr;
  for (;;) {
    if (is_cancelled())
      return cancelled();
    auto r = archive_read_next_header(ar.get(), &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return make_error(ec::invalid_argument,
                        "layer " + std::to_string(layer_index_ + 1) + " (" + layer.path
                          + ") is not a readable tar archive: "
                          + archive_error_text(ar.get())
                          + "; check the layer's digest and media type");
    if (auto ok = apply(ar.get(), e); !ok)
      return ok.error();
  }
  return {};
}

caf::expected<void> builder::emit_meta(const std::string& p, const inode& ino) {
  auto mtime = ino.mtime < 0 ? 0 : ino.mtime;
  meta_cmds_ += "sif " + p + " mode " + octal(type_bits(ino.type) | ino.perm) + "\n";
  meta_cmds_ += "sif " + p + " uid " + std::to_string(ino.uid) + "\n";
  meta_cmds_ += "sif " + p + " gid " + std::to_string(ino.gid) + "\n";
  meta_cmds_ += "sif " + p + " mtime @" + std::to_string(mtime) + "\n";
  // mke2fs -d copies the staged files' xattrs: ACLs inherited from the work
  // directory or a host's SELinux labels must not reach the image.
  for (auto& h : ino.host_xattrs) {
    bool wanted = false;
    for (auto& x : ino.xattrs)
      wanted = wanted || x.first == h;
    if (!wanted)
      meta_cmds_ += "ea_rm " + p + " " + quote(h) + "\n";
  }
  for (auto& [xname, xvalue] : ino.xattrs) {
    // Values go through files: they are binary (security.capability).
    auto vf = xattr_dir_ + "/" + std::to_string(xattr_counter_++);
    if (auto r = write_private(vf, xvalue); !r)
      return r;
    meta_cmds_ += "ea_set -f " + quote(vf) + " " + p + " " + quote(xname) + "\n";
  }
  return {};
}

void builder::note_host_xattrs(const std::string& host, inode& ino) {
  char names[4096];
  auto n = ::llistxattr(host.c_str(), names, sizeof names);
  for (ssize_t i = 0; i < n;) {
    std::string name{names + i};
    i += static_cast<ssize_t>(name.size()) + 1;
    if (!name.empty() && name.find('\n') == std::string::npos)
      ino.host_xattrs.push_back(std::move(name));
  }
}

caf::expected<void> builder::stage(node& dir, int dirfd, const std::string& host_dir,
                                   const std::string& image_dir) {
  for (auto& [name, child] : dir.children) {
    auto& ino = *child->ino;
    auto host = host_dir + "/" + name;
    auto image = image_dir + "/" + name;
    ++paths_;
    ++ino.links;
    bool first = ino.links == 1;
    if (first) {
      ino.image_path = image;
      content_bytes_ += 4096 + 256; // a block and an inode, roughly
      if (ino.type == kind::file)
        content_bytes_ += (ino.size + 4095) / 4096 * 4096;
      metas_.emplace_back(image, child->ino);
    }
    const char* cname = name.c_str();
    switch (ino.type) {
      case kind::dir: {
        dirs_.push_back(image);
        if (::mkdirat(dirfd, cname, 0700) != 0)
          return make_error(ec::internal, "cannot create " + host + ": " + errno_text(errno));
        unique_fd sub{::openat(dirfd, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
        if (!sub.valid())
          return make_error(ec::internal, "cannot open " + host + ": " + errno_text(errno));
        note_host_xattrs(host, ino);
        if (auto r = stage(*child, sub.get(), host, image); !r)
          return r;
        break;
      }
      case kind::file:
      case kind::symlink: {
        if (!first) {
          // Not following: a hardlinked symlink stays a symlink.
          if (::linkat(AT_FDCWD, ino.staged.c_str(), dirfd, cname, 0) != 0)
            return make_error(ec::internal, "cannot link " + host + ": " + errno_text(errno));
          break;
        }
        auto earlier = std::exchange(ino.staged, host);
        if (ino.type == kind::symlink) {
          if (::symlinkat(ino.target.c_str(), dirfd, cname) != 0)
            return make_error(ec::internal, "cannot create " + host + ": " + errno_text(errno));
        } else if (!ino.blob.empty()) {
          if (::renameat(AT_FDCWD, ino.blob.c_str(), dirfd, cname) != 0)
            return make_error(ec::internal, "cannot move content to " + host + ": "
                                              + errno_text(errno));
          ino.blob.clear();
        } else if (!earlier.empty() && ino.size > 0) {
          // Staged for an earlier image of this build (the work seed):
          // the same content, linked rather than copied.
          if (::linkat(AT_FDCWD, earlier.c_str(), dirfd, cname, 0) != 0)
            return make_error(ec::internal, "cannot link " + host + ": " + errno_text(errno));
        } else {
          unique_fd f{::openat(dirfd, cname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                               0600)};
          if (!f.valid())
            return make_error(ec::internal, "cannot create " + host + ": " + errno_text(errno));
        }
        note_host_xattrs(host, ino);
        break;
      }
      case kind::chr:
      case kind::blk:
      case kind::fifo:
        // Never on the host: debugfs makes them inside the image. Its mknod
        // takes a bare name in the current directory.
        if (first) {
          create_cmds_ += "cd " + quote(image_dir.empty() ? "/" : image_dir) + "\n";
          create_cmds_ += "mknod " + quote(name);
          if (ino.type == kind::fifo)
            create_cmds_ += " p\n";
          else
            create_cmds_ += std::string{ino.type == kind::chr ? " c " : " b "}
                            + std::to_string(ino.major) + " " + std::to_string(ino.minor) + "\n";
          create_cmds_ += "cd /\n";
          node_inodes_.push_back(child->ino);
        } else {
          // debugfs ln does not count links: fixed below with links_count.
          create_cmds_ += "ln " + quote(ino.image_path) + " " + quote(image) + "\n";
        }
        break;
    }
  }
  return {};
}

caf::expected<std::unordered_map<std::string, std::uint32_t>>
builder::inode_numbers(const std::string& image, const std::string& tag) {
  std::string cmds;
  for (auto& d : dirs_)
    cmds += "ls -p " + quote(d) + "\n";
  auto script = opts_.work_dir + "/debugfs-ls-" + tag + ".cmds";
  if (auto r = write_private(script, cmds); !r)
    return r.error();
  auto ls = banger::run({"debugfs", "-f", script, image});
  if (!ls)
    return ls.error();
  if (!ls->ok())
    return make_error(ec::unavailable, "debugfs could not list " + image + ": " + ls->err);
  // debugfs echoes each command ("debugfs: ls -p ..."), then one line per
  // entry, "/ino/mode/uid/gid/name/size/", the name raw (it has no '/').
  std::unordered_map<std::string, std::uint32_t> numbers;
  std::size_t dir = 0;
  bool started = false;
  std::istringstream lines(ls->out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("debugfs: ", 0) == 0) {
      if (started)
        ++dir;
      started = true;
      continue;
    }
    if (line.empty() || line[0] != '/' || dir >= dirs_.size())
      continue;
    std::vector<std::string> f;
    for (std::size_t i = 1; i < line.size();) {
      auto j = line.find('/', i);
      if (j == std::string::npos)
        j = line.size();
      f.push_back(line.substr(i, j - i));
      i = j + 1;
    }
    if (f.size() < 6 || f[0] == "0" || f[4] == "." || f[4] == ".." || f[4].empty())
      continue;
    auto base = dirs_[dir] == "/" ? std::string{} : dirs_[dir];
    std::uint32_t ino = 0;
    auto [end, err] = std::from_chars(f[0].data(), f[0].data() + f[0].size(), ino);
    if (err == std::errc{} && end == f[0].data() + f[0].size())
      numbers[base + "/" + f[4]] = ino;
  }
  return numbers;
}

caf::expected<void> builder::read_layers(const std::vector<layer_source>& layers) {
  if (opts_.work_dir.empty())
    return make_error(ec::invalid_argument, "building a root filesystem needs a work directory");
  blobs_dir_ = opts_.work_dir + "/blobs";
  xattr_dir_ = opts_.work_dir + "/xattrs";
  for (auto& d : {blobs_dir_, xattr_dir_})
    if (::mkdir(d.c_str(), 0700) != 0)
      return make_error(ec::internal, "cannot create " + d + ": " + errno_text(errno)
                                        + "; the work directory must exist and be empty");
  auto avail = free_bytes(opts_.work_dir);
  if (!avail)
    return avail.error();
  space_budget_ = *avail > opts_.limits.free_margin ? (*avail - opts_.limits.free_margin) / 2 : 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    layer_index_ = i;
    layer_path_ = layers[i].digest.empty() ? layers[i].path : layers[i].digest;
    if (auto r = read_layer(layers[i]); !r)
      return r.error();
  }
  return {};
}

caf::expected<std::uint64_t> builder::stage_only(const std::vector<layer_source>& layers) {
  if (auto r = read_layers(layers); !r)
    return r.error();
  if (auto r = stage_tree(root_, "root"); !r)
    return r.error();
  return paths_;
}

caf::expected<rootfs_result> builder::run(const std::vector<layer_source>& layers) {
  if (opts_.work_dir.empty() || opts_.output.empty())
    return make_error(ec::invalid_argument, "building a root filesystem needs a work directory "
                                            "and an output path");
  if (opts_.label.size() > 16)
    return make_error(ec::invalid_argument, "the filesystem label '" + opts_.label
                                              + "' is longer than 16 bytes");
  if (auto r = read_layers(layers); !r)
    return r.error();
  rootfs_result result;
  if (!opts_.work_seed_output.empty()) {
    // The image's /root (a real directory; an empty one otherwise).
    node empty;
    empty.ino = std::make_shared<inode>();
    empty.ino->type = kind::dir;
    empty.ino->perm = 0700;
    auto it = root_.children.find("root");
    auto& top = it != root_.children.end() && it->second->ino->type == kind::dir
                  ? *it->second
                  : empty;
    auto seed = write_image(top, "seed", opts_.work_seed_output, "banger-work", 0,
                            min_work_seed_bytes);
    if (!seed)
      return seed.error();
    result.work_seed_bytes = *seed;
  }
  auto size = write_image(root_, "root", opts_.output, opts_.label, opts_.size_bytes, 0);
  if (!size) {
    if (!opts_.work_seed_output.empty())
      ::unlink(opts_.work_seed_output.c_str());
    return size.error();
  }
  result.size_bytes = *size;
  result.files = paths_;
  return result;
}

caf::expected<std::string> builder::stage_tree(node& top, const std::string& tag) {
  // Per-image state: an inode is "first seen" anew in each image.
  paths_ = 0;
  content_bytes_ = 0;
  metas_.clear();
  dirs_ = {"/"};
  create_cmds_.clear();
  meta_cmds_.clear();
  node_inodes_.clear();
  std::vector<node*> todo{&top};
  while (!todo.empty()) {
    auto* n = todo.back();
    todo.pop_back();
    n->ino->links = 0;
    n->ino->image_path.clear();
    n->ino->host_xattrs.clear();
    for (auto& [name, child] : n->children)
      todo.push_back(child.get());
  }
  auto staging = opts_.work_dir + "/" + tag;
  if (::mkdir(staging.c_str(), 0700) != 0)
    return make_error(ec::internal, "cannot create " + staging + ": " + errno_text(errno)
                                      + "; the work directory must exist and be empty");
  unique_fd rootfd{::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (!rootfd.valid())
    return make_error(ec::internal, "cannot open " + staging + ": " + errno_text(errno));
  note_host_xattrs(staging, *top.ino);
  if (auto r = stage(top, rootfd.get(), staging, ""); !r)
    return r.error();
  return staging;
}

caf::expected<std::uint64_t> builder::write_image(node& top, const std::string& tag,
                                                  const std::string& output,
                                                  const std::string& label,
                                                  std::uint64_t size_bytes,
                                                  std::uint64_t min_bytes) {
  if (is_cancelled())
    return cancelled();
  auto staging = stage_tree(top, tag);
  if (!staging)
    return staging.error();
  for (auto& ino : node_inodes_)
    if (ino->links > 1)
      create_cmds_ += "sif " + quote(ino->image_path) + " links_count "
                      + std::to_string(ino->links) + "\n";

  std::uint64_t size = size_bytes;
  std::uint64_t inodes = paths_ + paths_ / 4 + 1024;
  if (size == 0) {
    size = content_bytes_ + content_bytes_ * 3 / 10 + (64ull << 20);
    // -T default has one inode per 16 KiB; keep room for them all.
    size = std::max({size, inodes * 16384, min_bytes});
  }
  constexpr std::uint64_t mib = 1ull << 20;
  if (size_bytes == 0)
    size = (size + mib - 1) / mib * mib;
  inodes = std::max(inodes, size / 16384);

  auto tmp = output + ".tmp";
  ::unlink(tmp.c_str());
  if (is_cancelled())
    return cancelled();
  auto mk = banger::run({"mke2fs", "-q", "-t", "ext4", "-T", "default", "-L", label,
                         "-N", std::to_string(inodes), "-d", *staging, "-E", "root_owner=0:0",
                         "-F", tmp, std::to_string((size + 1023) / 1024) + "k"});
  if (!mk)
    return mk.error();
  if (!mk->ok())
    return make_error(ec::unavailable, "mke2fs could not write " + tmp + " ("
                                         + std::to_string(size) + " bytes): " + mk->err
                                         + mk->out + "; check free space, or give a larger size");
  if (is_cancelled())
    return cancelled();
  // debugfs looks a path up by scanning each directory on it (no htree):
  // a path per command costs minutes on a real image. One listing of every
  // directory gives the inode numbers, and "<N>" needs no lookup.
  auto numbers = inode_numbers(tmp, tag);
  if (!numbers)
    return numbers.error();
  if (auto r = emit_meta("<2>", *top.ino); !r)
    return r.error();
  for (auto& [path, ino] : metas_) {
    auto it = numbers->find(path);
    auto target = it != numbers->end() ? "<" + std::to_string(it->second) + ">" : quote(path);
    if (auto r = emit_meta(target, *ino); !r)
      return r.error();
  }
  auto script = opts_.work_dir + "/debugfs-" + tag + ".cmds";
  if (auto r = write_private(script, create_cmds_ + meta_cmds_); !r)
    return r.error();
  auto dbg = banger::run({"debugfs", "-w", "-f", script, tmp});
  if (!dbg)
    return dbg.error();
  // debugfs reports failed commands on stderr and still exits 0: anything
  // there but its version banner is a failure.
  std::string problems;
  std::istringstream lines(dbg->err);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line.rfind("debugfs ", 0) != 0)
      problems += line + "\n";
  if (!dbg->ok() || !problems.empty())
    return make_error(ec::unavailable, "debugfs could not set owners, modes and nodes in " + tmp
                                         + ": " + (problems.empty() ? dbg->err : problems));
  if (is_cancelled())
    return cancelled();
  if (::rename(tmp.c_str(), output.c_str()) != 0)
    return make_error(ec::internal, "cannot rename " + tmp + " to " + output + ": "
                                      + errno_text(errno));
  struct stat st{};
  ::stat(output.c_str(), &st);
  return static_cast<std::uint64_t>(st.st_size);
}

} // namespace

caf::expected<rootfs_result> build_rootfs(const std::vector<layer_source>& layers,
                                          const rootfs_options& opts) {
  auto result = builder{opts}.run(layers);
  if (!result)
    for (auto* out : {&opts.output, &opts.work_seed_output})
      if (!out->empty())
        ::unlink((*out + ".tmp").c_str());
  return result;
}

caf::expected<std::uint64_t> stage_rootfs(const std::vector<layer_source>& layers,
                                          const rootfs_options& opts) {
  return builder{opts}.stage_only(layers);
}

} // namespace banger
