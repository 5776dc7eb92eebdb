#pragma once
// Shell completion. `PROG completion bash|zsh|fish` prints a script to source; the script asks
// the program itself what may come next by running `PROG __complete WORD... CURRENT`, so the
// candidates always match the program's commands, options and choices.
//
// The answer is one candidate per line ("value<TAB>description"), then a last line telling
// the shell what else to offer: ":files", ":dirs" or ":none".

#include <flash/cli/help.hpp>
#include <flash/cli/validators.hpp>

#include <CLI/App.hpp>
#include <fmt/format.h>

#include <cctype>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace flash::detail {

inline constexpr std::string_view complete_entry_point = "__complete";
inline const std::vector<std::string> completion_shells{"bash", "zsh", "fish"};

struct completion_candidate {
  std::string value;
  std::string description;
};

struct completion {
  std::vector<completion_candidate> candidates;
  value_kind also = value_kind::none;  ///< path, file or directory: the shell adds those too

  std::string to_string() const {
    std::string out;
    for (const auto& c : candidates) {
      out += c.value;
      if (!c.description.empty()) out += '\t' + c.description.substr(0, c.description.find('\n'));
      out += '\n';
    }
    switch (also) {
      case value_kind::path:
      case value_kind::file: out += ":files\n"; break;
      case value_kind::directory: out += ":dirs\n"; break;
      default: out += ":none\n"; break;
    }
    return out;
  }
};

inline bool takes_value(const CLI::Option* option) { return option->get_type_size_max() > 0; }

/// The option `name` ("--jobs", "-j") as `at` would parse it: its own, or one of the commands
/// above it (options fall through to them).
inline const CLI::Option* find_option(const CLI::App* at, std::string_view name) {
  for (; at; at = at->get_parent())
    for (const CLI::Option* option : at->get_options())
      if (option->nonpositional() && option->check_name(std::string(name))) return option;
  return nullptr;
}

inline const CLI::App* find_subcommand(const CLI::App* at, std::string_view name) {
  for (const CLI::App* sub : at->get_subcommands([](const CLI::App*) { return true; }))
    if (sub->get_name() == name) return sub;
  return nullptr;
}

/// The values an option or argument may take, filtered by what has been typed.
inline completion complete_value(const CLI::Option* option, std::string_view typed, std::string_view prefix,
                                 const hint_lookup& hint_of) {
  completion result;
  value_hint hint = hint_of(option);
  if (hint.kind == value_kind::choice) {
    for (const auto& choice : hint.choices)
      if (std::string_view(choice).starts_with(typed)) result.candidates.push_back({std::string(prefix) + choice, {}});
  } else {
    result.also = hint.kind;
  }
  return result;
}

/// What may follow `words` (the words after the program's name; the last one is being typed).
inline completion complete(const CLI::App& root, std::vector<std::string> words, const hint_lookup& hint_of) {
  if (words.empty()) words.emplace_back();
  const std::string current = words.back();
  words.pop_back();

  const CLI::App* at = &root;
  const CLI::Option* pending = nullptr;  // an option still waiting for its value
  bool only_positionals = false;        // after "--"
  std::size_t positionals_seen = 0;
  for (const std::string& word : words) {
    if (word == "=" && pending) continue;  // bash splits "--algo=x" into "--algo", "=", "x"
    if (pending) {
      pending = nullptr;
      continue;
    }
    if (!only_positionals && word == "--") {
      only_positionals = true;
      continue;
    }
    if (!only_positionals && word.size() > 1 && word.front() == '-') {
      const auto equals = word.find('=');
      const CLI::Option* option = find_option(at, word.substr(0, equals));
      if (option && takes_value(option) && equals == std::string::npos) pending = option;
      continue;
    }
    if (const CLI::App* sub = only_positionals ? nullptr : find_subcommand(at, word)) {
      at = sub;
      positionals_seen = 0;
      continue;
    }
    ++positionals_seen;
  }

  if (pending) return complete_value(pending, current, "", hint_of);

  if (!only_positionals && current.starts_with('-')) {
    if (const auto equals = current.find('='); equals != std::string::npos) {
      if (const CLI::Option* option = find_option(at, current.substr(0, equals)))
        return complete_value(option, std::string_view(current).substr(equals + 1), current.substr(0, equals + 1),
                              hint_of);
      return {};
    }
    completion result;
    for (const CLI::App* level = at; level; level = level->get_parent()) {
      for (const CLI::Option* option : level->get_options()) {
        if (!option->nonpositional() || is_hidden(option)) continue;
        if (level != at && option == level->get_help_ptr()) continue;
        for (const auto& name : option->get_lnames())
          if (("--" + name).starts_with(current)) result.candidates.push_back({"--" + name, option->get_description()});
        for (const auto& name : option->get_snames())
          if (("-" + name).starts_with(current)) result.candidates.push_back({"-" + name, option->get_description()});
      }
    }
    return result;
  }

  completion result;
  if (!only_positionals)
    for (const CLI::App* sub : at->get_subcommands([](const CLI::App* c) { return !is_hidden(c); }))
      if (sub->get_name().starts_with(current)) result.candidates.push_back({sub->get_name(), sub->get_description()});

  // The positional argument this word would fill: the n-th, or the last one when it takes many.
  std::vector<const CLI::Option*> positionals;
  for (const CLI::Option* option : at->get_options())
    if (!option->nonpositional()) positionals.push_back(option);
  const CLI::Option* slot = nullptr;
  std::size_t index = 0;
  for (const CLI::Option* option : positionals) {
    const int many = option->get_expected_max();
    if (many > 1 || positionals_seen < index + static_cast<std::size_t>(many)) {
      slot = option;
      break;
    }
    index += static_cast<std::size_t>(many);
  }
  if (slot) {
    completion values = complete_value(slot, current, "", hint_of);
    result.candidates.insert(result.candidates.end(), values.candidates.begin(), values.candidates.end());
    result.also = values.also;
  }
  return result;
}

/// A name usable in a shell function: "flash-cp" -> "flash_cp".
inline std::string shell_identifier(std::string_view program) {
  std::string id;
  for (char c : program) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return id;
}

inline std::string bash_completion_script(std::string_view program) {
  return fmt::format(R"(# bash completion for {0}; load it with: source <({0} completion bash)
_flash_complete_{1}() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prefix="" line IFS=$'\n'
    local -a words=("${{COMP_WORDS[@]:1:COMP_CWORD}}") lines
    # bash splits "--name=value" at "="; completing right after it, keep the "=" in front.
    if [[ $cur == "=" ]]; then prefix="="; cur=""; words+=(""); fi
    lines=($("{0}" {2} "${{words[@]}}" 2>/dev/null)) || return 0
    (( ${{#lines[@]}} )) || return 0
    local directive=${{lines[-1]}}
    unset 'lines[-1]'
    COMPREPLY=()
    for line in "${{lines[@]}}"; do COMPREPLY+=("$prefix${{line%%$'\t'*}}"); done
    case $directive in
        :files) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -f -- "$cur")) ;;
        :dirs) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "$cur")) ;;
    esac
}}
complete -F _flash_complete_{1} {0}
)",
                     program, shell_identifier(program), complete_entry_point);
}

inline std::string zsh_completion_script(std::string_view program) {
  return fmt::format(R"(#compdef {0}
# zsh completion for {0}; load it (after compinit) with: source <({0} completion zsh)
_flash_complete_{1}() {{
    local -a lines candidates
    local line value description directive
    lines=("${{(@f)$("{0}" {2} "${{(@)words[2,CURRENT]}}" 2>/dev/null)}}")
    directive=${{lines[-1]}}
    for line in "${{(@)lines[1,-2]}}"; do
        [[ -n $line ]] || continue
        value=${{line%%$'\t'*}}
        description=""
        [[ $line == *$'\t'* ]] && description=${{line#*$'\t'}}
        candidates+=("${{value//:/\\:}}${{description:+:$description}}")
    done
    (( ${{#candidates}} )) && _describe -t values 'values' candidates
    case $directive in
        :files) _files ;;
        :dirs) _files -/ ;;
    esac
}}
compdef _flash_complete_{1} {0}
)",
                     program, shell_identifier(program), complete_entry_point);
}

inline std::string fish_completion_script(std::string_view program) {
  return fmt::format(R"(# fish completion for {0}; load it with: {0} completion fish | source
function __flash_complete_{1}
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    set -l lines ({0} {2} $tokens[2..-1] "$current" 2>/dev/null)
    set -l count (count $lines)
    test $count -gt 0; or return
    if test $count -gt 1
        printf '%s\n' $lines[1..(math $count - 1)]
    end
    switch $lines[$count]
        case :files
            __fish_complete_path "$current"
        case :dirs
            __fish_complete_directories "$current"
    end
end
complete -c {0} -f -a '(__flash_complete_{1})'
)",
                     program, shell_identifier(program), complete_entry_point);
}

inline std::string completion_script(std::string_view shell, std::string_view program) {
  if (shell == "bash") return bash_completion_script(program);
  if (shell == "zsh") return zsh_completion_script(program);
  return fish_completion_script(program);
}

}  // namespace flash::detail
