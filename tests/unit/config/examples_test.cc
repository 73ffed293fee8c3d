// Every shipped example and every `# example` block in docs/*.md (config.md, routing.md, ...)
// must load cleanly, so neither can drift from what the loader accepts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config/loader.h"

namespace fulcrum::config {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = FULCRUM_SOURCE_DIR;

std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += "\n  " + e.to_string();
  return out;
}

TEST(Examples, EveryExampleFileLoads) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kSource / "examples")) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  // quickstart.yaml is what the README points new users at; it must exist, not just pass.
  EXPECT_NE(std::find(files.begin(), files.end(), kSource / "examples" / "quickstart.yaml"),
            files.end());
  EXPECT_GE(files.size(), 2u);
  for (const fs::path& f : files) {
    LoadResult r = load_file(f.string());
    EXPECT_TRUE(r.config && r.errors.empty()) << f << errors_of(r);
  }
}

struct Fence {
  std::string file;  // "docs/config.md"; empty for markdown not read from a file
  int line;          // 1-based line of the opening ``` in the markdown
  std::string lang;  // what follows the opening ```, e.g. "yaml"
  std::string text;
};

std::vector<Fence> fences(std::istream& md) {
  std::vector<Fence> out;
  std::string line;
  int n = 0;
  bool inside = false;
  while (std::getline(md, line)) {
    ++n;
    if (!line.starts_with("```")) {
      if (inside) out.back().text += line + "\n";
    } else if (inside) {
      inside = false;
    } else {
      inside = true;
      out.push_back(Fence{"", n, line.substr(3), ""});
    }
  }
  return out;
}

// ```yaml blocks whose first line is exactly `# example` must load cleanly; one whose first
// line is `# broken example` must give exactly the errors in the ```text block after it. Other
// blocks (fragments, output) are prose.
bool starts_with_line(const Fence& f, std::string_view first) {
  return f.lang == "yaml" && f.text.starts_with(std::string(first) + "\n");
}

// The fences of every docs/*.md, in file name order.
std::vector<Fence> read_docs() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kSource / "docs")) {
    if (entry.path().extension() == ".md") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  EXPECT_NE(std::find(files.begin(), files.end(), kSource / "docs" / "config.md"), files.end())
      << "docs/config.md is missing";
  std::vector<Fence> out;
  for (const fs::path& f : files) {
    std::ifstream md(f);
    EXPECT_TRUE(md) << f;
    for (Fence& fence : fences(md)) {
      fence.file = "docs/" + f.filename().string();
      out.push_back(std::move(fence));
    }
  }
  return out;
}

TEST(Examples, SplitsMarkdownIntoFences) {
  std::istringstream md("text\n```yaml\n# example\na: 1\n```\nmore\n```text\nout\n```\n");
  auto f = fences(md);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].line, 2);
  EXPECT_EQ(f[0].lang, "yaml");
  EXPECT_EQ(f[0].text, "# example\na: 1\n");
  EXPECT_TRUE(starts_with_line(f[0], "# example"));
  EXPECT_FALSE(starts_with_line(f[1], "# example"));
  EXPECT_EQ(f[1].line, 7);
  EXPECT_EQ(f[1].text, "out\n");
}

TEST(Examples, EveryDocsExampleBlockLoads) {
  std::map<std::string, int> examples;  // by file
  for (const Fence& f : read_docs()) {
    if (!starts_with_line(f, "# example")) continue;
    ++examples[f.file];
    std::string name = f.file + " block at line " + std::to_string(f.line);
    LoadResult r = load_string(f.text, name);
    EXPECT_TRUE(r.config && r.errors.empty()) << name << errors_of(r);
  }
  EXPECT_GE(examples["docs/config.md"], 3) << "docs/config.md should show complete examples";
  EXPECT_GE(examples["docs/routing.md"], 2) << "docs/routing.md should show complete examples";
}

TEST(Examples, DocsErrorExampleShowsTheRealOutput) {
  std::vector<Fence> f = read_docs();
  int broken = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (!starts_with_line(f[i], "# broken example")) continue;
    ++broken;
    ASSERT_LT(i + 1, f.size());
    ASSERT_EQ(f[i + 1].lang, "text") << "the output block after line " << f[i].line;
    LoadResult r = load_string(f[i].text, "fulcrum.yaml");
    std::string got;
    for (const ConfigError& e : r.errors) got += e.to_string() + "\n";
    EXPECT_EQ(got, f[i + 1].text) << f[i + 1].file << " line " << f[i + 1].line;
  }
  EXPECT_EQ(broken, 1);
}

}  // namespace
}  // namespace fulcrum::config
