"""The paper's analyses as commands: dataset statistics (`stats`: Table 1, Figs 2 and 3), visual-fact recall
(`analyze facts`: Figs 6 and 7), narration linguistics (`analyze text`: Fig 8) and narrator fit (`analyze fit`:
Fig 9)."""
