package dev.gatun.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** Prints a schedule's steps as a table (rows: steps, columns: ranks), optionally marking failing cells. */
final class ScheduleTable {
    static final String ERROR_MARK = "<-- ERROR HERE";

    private ScheduleTable() {
    }

    /**
     * The table, with the cell of step {@code marked.get(rank)} of each marked rank in brackets and its row followed by
     * {@value #ERROR_MARK}.
     */
    static String format(Schedule schedule, Map<Integer, Integer> marked) {
        int p = schedule.ranks();
        List<List<String>> cells = new ArrayList<>();
        int rows = 0;
        for (int r = 0; r < p; r++) {
            List<String> column = new ArrayList<>();
            List<Step> steps = schedule.steps(r);
            for (int k = 0; k < steps.size(); k++) {
                String text = cell(steps.get(k));
                column.add(marked.getOrDefault(r, -1) == k ? "[" + text + "]" : text);
            }
            cells.add(column);
            rows = Math.max(rows, column.size());
        }
        String[] header = new String[p];
        int[] width = new int[p];
        for (int r = 0; r < p; r++) {
            header[r] = "rank " + r;
            width[r] = header[r].length();
            for (String c : cells.get(r)) {
                width[r] = Math.max(width[r], c.length());
            }
        }
        String rowLabel = "step " + Math.max(rows - 1, 0);
        StringBuilder out = new StringBuilder();
        out.append(schedule.summary()).append(": ").append(rows).append(" steps\n");
        out.append(" ".repeat(rowLabel.length() + 2));
        appendRow(out, header, width);
        for (int k = 0; k < rows; k++) {
            String label = "step " + k;
            out.append(" ".repeat(rowLabel.length() - label.length())).append(label).append(": ");
            String[] row = new String[p];
            boolean error = false;
            for (int r = 0; r < p; r++) {
                List<String> column = cells.get(r);
                row[r] = k < column.size() ? column.get(k) : "";
                error |= marked.getOrDefault(r, -1) == k;
            }
            appendRow(out, row, width);
            if (error) {
                out.setLength(out.length() - 1);
                out.append("  ").append(ERROR_MARK).append('\n');
            }
        }
        return out.toString();
    }

    /** A step as printed: the action, or a group's actions joined by {@code +}. */
    static String cell(Step step) {
        return switch (step) {
            case Step.Compute c -> c.action().toString();
            case Step.Group g -> g.ops().stream().map(Action::toString).collect(Collectors.joining("+"));
        };
    }

    private static void appendRow(StringBuilder out, String[] cells, int[] width) {
        StringBuilder line = new StringBuilder();
        for (int r = 0; r < cells.length; r++) {
            line.append(cells[r]).append(" ".repeat(width[r] - cells[r].length()));
            if (r + 1 < cells.length) {
                line.append("  ");
            }
        }
        out.append(line.toString().stripTrailing()).append('\n');
    }
}
