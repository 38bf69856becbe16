"""The Analytics page's figures: `ranges` checks what is asked, `report` counts it (read only),
`rollup` stores closed days' cart events once; `sql` holds the statements they share."""
