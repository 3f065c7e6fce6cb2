package imgtool

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// KindStats counts the files of one image kind.
type KindStats struct {
	Kind  string
	Files int
	Bytes int64
}

// Stats summarizes a set.
type Stats struct {
	Tasks, Threads, Zombies int
	Files                   int
	Bytes                   int64
	PagesPresent            uint64 // pages whose contents the set holds
	PagesLazy               uint64 // of those, pages marked lazy
	PageBytes               int64  // size of all pages-*.img
	Kinds                   []KindStats
	Dump                    *images.DumpStatsEntry // from stats-dump, when present
}

// Collect computes the statistics of s.
func Collect(s *Set) *Stats {
	st := &Stats{}
	byKind := map[string]*KindStats{}
	for _, name := range s.Order {
		f := s.Files[name]
		st.Files++
		st.Bytes += f.Size
		kind := "(unknown)"
		if f.Kind != nil {
			kind = f.Kind.Name
		}
		ks := byKind[kind]
		if ks == nil {
			ks = &KindStats{Kind: kind}
			byKind[kind] = ks
		}
		ks.Files++
		ks.Bytes += f.Size
		if f.Kind == image.Pages {
			st.PageBytes += f.Size
		}
		if f.Kind == image.Pagemap || f.Kind == image.ShmemPagemap {
			if pm := pagemapRuns(s, f.Name); pm != nil {
				for _, r := range pm.Runs {
					if r.Present {
						st.PagesPresent += r.NrPages
						if r.Lazy {
							st.PagesLazy += r.NrPages
						}
					}
				}
			}
		}
	}
	for _, t := range entries[*images.PstreeEntry](s.Get("pstree.img")) {
		st.Tasks++
		st.Threads += max(1, len(t.GetThreads()))
		if core, ok := first[*images.CoreEntry](s.Get(image.Core.FileName(t.GetPid()))); ok && core.GetTc().GetTaskState() == images.TaskDead {
			st.Zombies++
		}
	}
	if se, ok := first[*images.StatsEntry](s.Get("stats-dump")); ok {
		st.Dump = se.GetDump()
	}
	for _, ks := range byKind {
		st.Kinds = append(st.Kinds, *ks)
	}
	sort.Slice(st.Kinds, func(i, j int) bool {
		if st.Kinds[i].Bytes != st.Kinds[j].Bytes {
			return st.Kinds[i].Bytes > st.Kinds[j].Bytes
		}
		return st.Kinds[i].Kind < st.Kinds[j].Kind
	})
	return st
}

// Print writes st as a short report.
func (st *Stats) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "tasks\t%d (%d threads, %d zombies)\n", st.Tasks, st.Threads, st.Zombies)
	fmt.Fprintf(tw, "files\t%d, %s\n", st.Files, human(st.Bytes))
	fmt.Fprintf(tw, "pages\t%d present (%s), %d of them lazy; pages files %s\n",
		st.PagesPresent, human(int64(st.PagesPresent*images.PageSize)), st.PagesLazy, human(st.PageBytes))
	if d := st.Dump; d != nil {
		fmt.Fprintf(tw, "dump times\tfreezing %d us, frozen %d us, memdump %d us, memwrite %d us\n",
			d.GetFreezingTime(), d.GetFrozenTime(), d.GetMemdumpTime(), d.GetMemwriteTime())
		fmt.Fprintf(tw, "dump pages\tscanned %d, written %d, lazy %d, skipped (parent) %d\n",
			d.GetPagesScanned(), d.GetPagesWritten(), d.GetPagesLazy(), d.GetPagesSkippedParent())
	}
	fmt.Fprintf(tw, "\nkind\tfiles\tbytes\n")
	for _, k := range st.Kinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", k.Kind, k.Files, k.Bytes)
	}
	return tw.Flush()
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
