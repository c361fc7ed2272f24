"""ResNet Lab: `streamlit run app.py`. The navigation; each page draws its own sidebar."""

import streamlit as st

from pages.ui import PAGES, language
from resnet.i18n import Translator

t = Translator(language())
navigation = st.navigation([
    st.Page(file, title=t(title_key), icon=icon, url_path=url, default=(i == 0))
    for i, (file, url, title_key, icon) in enumerate(PAGES)
])
navigation.run()
