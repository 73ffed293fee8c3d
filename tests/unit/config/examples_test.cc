// Every shipped example and every `# example` block in docs/config.md must load cleanly, so
// neither can drift from what the loader accepts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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

struct Block {
  int line;  // 1-based line of the opening fence in the markdown
  std::string text;
};

// ```yaml blocks whose first line is exactly `# example`; other yaml blocks (fragments, or
// deliberately broken configs that show an error) are not loaded.
std::vector<Block> example_blocks(std::istream& md) {
  std::vector<Block> blocks;
  std::string line;
  int n = 0;
  bool in_block = false;
  bool is_example = false;
  bool first = false;
  Block cur;
  while (std::getline(md, line)) {
    ++n;
    if (!in_block) {
      if (line == "```yaml") {
        in_block = true;
        first = true;
        cur = Block{n, ""};
      }
      continue;
    }
    if (line.starts_with("```")) {
      if (is_example) blocks.push_back(cur);
      in_block = is_example = false;
      continue;
    }
    if (first) is_example = line == "# example";
    first = false;
    cur.text += line + "\n";
  }
  return blocks;
}

TEST(Examples, ExtractsOnlyExampleBlocks) {
  std::istringstream md(
      "text\n```yaml\n# example\na: 1\n```\n```yaml\nb: 2\n```\n```\n# example\n```\n"
      "```yaml\n# example\n```\n");
  auto blocks = example_blocks(md);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].line, 2);
  EXPECT_EQ(blocks[0].text, "# example\na: 1\n");
  EXPECT_EQ(blocks[1].line, 12);
}

TEST(Examples, EveryDocsExampleBlockLoads) {
  std::ifstream md(kSource / "docs" / "config.md");
  ASSERT_TRUE(md) << "docs/config.md is missing";
  auto blocks = example_blocks(md);
  EXPECT_GE(blocks.size(), 3u) << "docs/config.md should show complete examples";
  for (const Block& b : blocks) {
    std::string name = "docs/config.md block at line " + std::to_string(b.line);
    LoadResult r = load_string(b.text, name);
    EXPECT_TRUE(r.config && r.errors.empty()) << name << errors_of(r);
  }
}

}  // namespace
}  // namespace fulcrum::config
