"""What a run reports: report.json's statistics, thumbnails and the self-contained report.html."""
