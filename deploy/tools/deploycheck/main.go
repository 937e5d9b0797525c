// deploycheck: static checks of deploy/ that need Docker's own libraries, without a
// Docker engine or the compose plugin. Used by scripts/check-deploy.sh.
//
//	deploycheck compose FILE...               loads Compose files exactly as `docker compose
//	                                          config` does (YAML anchors and merge keys,
//	                                          ${VAR} interpolation including ${VAR:?message},
//	                                          the Compose specification's JSON schema,
//	                                          normalisation) and prints the service names
//	deploycheck compose -env SERVICE FILE...  prints that service's environment, KEY=VALUE
//	deploycheck context ROOT IGNOREFILE       prints the files of the build context ROOT
//	                                          that IGNOREFILE (.dockerignore syntax) lets
//	                                          through, one path per line, as the Docker CLI
//	                                          selects them (moby/patternmatcher)
//
// Compose variables come from the process environment only (no .env file), so the check
// does not depend on a developer's local secrets.
//
// Exit status: 0 valid, 1 invalid (the reason on stderr), 2 usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

const usage = `usage: deploycheck compose [-env SERVICE] FILE...
       deploycheck context ROOT IGNOREFILE`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "compose":
		compose(os.Args[2:])
	case "context":
		buildContext(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}

func compose(args []string) {
	flags := flag.NewFlagSet("compose", flag.ExitOnError)
	envOf := flags.String("env", "", "print the environment of this service")
	_ = flags.Parse(args)
	if flags.NArg() == 0 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions(flags.Args(), cli.WithOsEnv, cli.WithName("deploycheck"))
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	if *envOf == "" {
		for _, name := range project.ServiceNames() {
			fmt.Println(name)
		}
		return
	}
	service, err := project.GetService(*envOf)
	if err != nil {
		fail(err)
	}
	lines := make([]string, 0, len(service.Environment))
	for key, value := range service.Environment {
		if value != nil {
			lines = append(lines, key+"="+*value)
		}
	}
	sort.Strings(lines)
	for _, line := range lines {
		fmt.Println(line)
	}
}

// buildContext walks ROOT like the Docker CLI does when it sends a build context: a
// directory that is excluded is skipped entirely unless an exception (`!pattern`) might
// let something inside it back in.
func buildContext(args []string) {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	root, ignorePath := args[0], args[1]
	f, err := os.Open(ignorePath)
	if err != nil {
		fail(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	_ = f.Close()
	if err != nil {
		fail(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		fail(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if excluded && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if !excluded {
			fmt.Println(rel)
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
